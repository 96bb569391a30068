/**
 * The layer reader against the floor it cannot beat: decompressing the blob. One generated layer
 * of ~100 MB (text files of all sizes and ~30% incompressible binaries, like a rootfs with
 * node_modules), read from a file on disk as gzip, zstd and plain tar, every body read.
 *
 *   npx vitest bench --run bench/layer-reader.bench.ts
 */
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip, gzipSync } from 'node:zlib'
import { bench, describe } from 'vitest'
import { sha256Digest } from '../core/digest.ts'
import { openFileStream } from '../plugins/sources/file-stream.ts'
import { buildTar, type FileSpec } from '../plugins/sources/image-builder.ts'
import { makeLayer } from '../plugins/sources/layer-reader.ts'
import { zstdCompress } from '../test/support/zstd.ts'

const TARGET_BYTES = 100 * 1024 * 1024
const WORDS = 'const import export function return password token secret config value key user host port path file data error true false null the and for with from into'.split(' ')

/** deterministic enough to compress like source code and config, without being a repeated block */
const textOf = (size: number): string => {
  const parts: string[] = []
  let length = 0
  while (length < size) {
    const word = WORDS[Math.floor(Math.random() * WORDS.length)]
    const piece = Math.random() < 0.1 ? `${word}_${Math.floor(Math.random() * 1e6)}\n` : `${word} `
    parts.push(piece)
    length += piece.length
  }
  return parts.join('').slice(0, size)
}

const generateFiles = (): FileSpec[] => {
  const files: FileSpec[] = []
  let total = 0
  for (let i = 0; total < TARGET_BYTES; i++) {
    const binary = Math.random() < 0.05
    const size = binary ? 100_000 + Math.floor(Math.random() * 1_500_000) : 200 + Math.floor(Math.random() * 30_000)
    files.push({ path: `usr/lib/pkg-${i % 97}/file-${i}${binary ? '.so' : '.js'}`, content: binary ? randomBytes(size) : textOf(size) })
    total += size
  }
  return files
}

const dir = await mkdtemp(join(tmpdir(), 'layerleak-bench-'))
const tar = await buildTar(generateFiles())
const fixtures = {
  gzip: new Uint8Array(gzipSync(tar)),
  zstd: zstdCompress(tar),
  none: tar,
}
const paths: Record<string, string> = {}
for (const [name, bytes] of Object.entries(fixtures)) {
  paths[name] = join(dir, `layer.${name}`)
  await writeFile(paths[name], bytes)
}

const readLayer = async (name: keyof typeof fixtures) => {
  const bytes = fixtures[name]
  const layer = makeLayer({ digest: sha256Digest(bytes), mediaType: '', size: bytes.byteLength }, 0, () => openFileStream(paths[name]))
  let read = 0
  for await (const entry of layer.entries()) for await (const chunk of entry.body) read += chunk.byteLength
  return read
}

const options = { iterations: 5, warmupIterations: 1, time: 0 }

describe(`one layer, ${(tar.byteLength / 1048576).toFixed(0)} MiB of tar`, () => {
  bench(
    'floor: node:zlib gunzip of the file, output discarded',
    async () => {
      await pipeline(createReadStream(paths.gzip, { highWaterMark: 256 * 1024 }), createGunzip({ chunkSize: 64 * 1024 }), new Writable({ write: (_chunk, _encoding, done) => done() }))
    },
    options,
  )
  bench('layer reader, gzip: verify + gunzip + tar + every body', () => readLayer('gzip').then(() => {}), options)
  bench('layer reader, zstd: verify + zstd + tar + every body', () => readLayer('zstd').then(() => {}), options)
  bench('layer reader, plain tar: verify + tar + every body', () => readLayer('none').then(() => {}), options)
})
