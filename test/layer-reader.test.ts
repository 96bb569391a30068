import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync, constants as zlibConstants } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LayerEntry } from '../core/contracts.ts'
import { sha256Digest } from '../core/digest.ts'
import { isLayerleakError } from '../core/errors.ts'
import { MediaTypes } from '../core/media-types.ts'
import { openFileStream } from '../plugins/sources/file-stream.ts'
import { type FileSpec, buildLayer, buildTar, opaqueDirectory, whiteout } from '../plugins/sources/image-builder.ts'
import { makeLayer, readLayerEntries } from '../plugins/sources/layer-reader.ts'
import { concatBlocks, endOfArchive, gnuLongHeader, padded, tarHeader } from './support/tar-blocks.ts'
import { zstdCompress } from './support/zstd.ts'

interface ReadEntry {
  path: string
  type: string
  size: number
  mode: number
  linkname?: string
  content?: string
}

/** Reads every entry (bodies too unless told not to) and whatever the iterator threw after them. */
const readAll = async (entries: AsyncIterable<LayerEntry>, options: { bodies?: boolean } = {}) => {
  const read: ReadEntry[] = []
  let error: unknown
  try {
    for await (const entry of entries) {
      const item: ReadEntry = { path: entry.path, type: entry.type, size: entry.size, mode: entry.mode, ...(entry.linkname ? { linkname: entry.linkname } : {}) }
      read.push(item)
      if (options.bodies !== false) {
        const chunks: Uint8Array[] = []
        for await (const chunk of entry.body) chunks.push(chunk)
        item.content = Buffer.concat(chunks).toString('latin1')
      }
    }
  } catch (caught) {
    error = caught
  }
  return { entries: read, error }
}

/** A blob as a stream in small chunks, so reads cross chunk boundaries everywhere. */
const streamOf = (bytes: Uint8Array, chunkSize = 7919, hooks: { cancelled?: () => void } = {}): ReadableStream<Uint8Array> => {
  let at = 0
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close()
      controller.enqueue(bytes.slice(at, at + chunkSize))
      at += chunkSize
    },
    cancel() {
      hooks.cancelled?.()
    },
  })
}

const layerOver = (bytes: Uint8Array, digest = sha256Digest(bytes), mediaType: string = MediaTypes.ociLayerGzip) =>
  makeLayer({ digest, mediaType, size: bytes.byteLength }, 0, async () => streamOf(bytes))

const files: FileSpec[] = [
  { path: 'etc', type: 'directory' },
  { path: 'etc/app.env', content: 'API_TOKEN=abc123\nDEBUG=1\n', mode: 0o600 },
  { path: 'usr/bin/tool', content: randomBytes(300_000), mode: 0o755 },
  { path: 'usr/bin/tool-link', type: 'hardlink', linkname: 'usr/bin/tool' },
  { path: 'usr/bin/alias', type: 'symlink', linkname: 'tool' },
  { path: 'empty.txt', content: '' },
]

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'layerleak-layer-reader-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('reading layer entries', () => {
  it('reads the same entries from gzip, zstd and uncompressed layers', async () => {
    const tar = await buildTar(files)
    const expected = await readAll(readLayerEntries(streamOf(tar)))
    expect(expected.error).toBeUndefined()
    expect(expected.entries.map((entry) => entry.path)).toEqual(['etc', 'etc/app.env', 'usr/bin/tool', 'usr/bin/tool-link', 'usr/bin/alias', 'empty.txt'])
    for (const compression of ['gzip', 'zstd', 'none'] as const) {
      const layer = await buildLayer({ files, compression, compress: zstdCompress })
      const read = await readAll(layerOver(layer.bytes, layer.digest, layer.mediaType).entries())
      expect(read.error, compression).toBeUndefined()
      expect(read.entries, compression).toEqual(expected.entries)
    }
    expect(expected.entries[1]).toMatchObject({ type: 'file', mode: 0o600, content: 'API_TOKEN=abc123\nDEBUG=1\n' })
  })

  it('detects the compression from the bytes, whatever the media type says', async () => {
    const layer = await buildLayer({ files, compression: 'gzip' })
    const read = await readAll(layerOver(layer.bytes, layer.digest, MediaTypes.ociLayer).entries())
    expect(read.error).toBeUndefined()
    expect(read.entries).toHaveLength(files.length)
  })

  it('reads a layer from a file on disk', async () => {
    const layer = await buildLayer({ files, compression: 'gzip' })
    const path = join(dir, 'from-disk.tar.gz')
    await writeFile(path, layer.bytes)
    const onDisk = makeLayer(layer, 0, (options) => openFileStream(path, { ...(options?.signal ? { signal: options.signal } : {}) }))
    const read = await readAll(onDisk.entries())
    expect(read.error).toBeUndefined()
    expect(read.entries.find((entry) => entry.path === 'usr/bin/tool')?.content).toBe(Buffer.from(files[2].content as Uint8Array).toString('latin1'))
  })

  it('reports symlinks and hardlinks with their targets', async () => {
    const layer = await buildLayer({ files })
    const { entries } = await readAll(layerOver(layer.bytes).entries(), { bodies: false })
    expect(entries.find((entry) => entry.path === 'usr/bin/alias')).toMatchObject({ type: 'symlink', linkname: 'tool' })
    expect(entries.find((entry) => entry.path === 'usr/bin/tool-link')).toMatchObject({ type: 'hardlink', linkname: 'usr/bin/tool' })
  })

  it('reads PAX long names and long link names', async () => {
    const longDir = `opt/${'deeply-nested-directory/'.repeat(8)}`
    const longFile = `${longDir}${'f'.repeat(120)}.conf`
    const layer = await buildLayer({
      files: [
        { path: longFile, content: 'password=hunter2' },
        { path: 'opt/short-link', type: 'symlink', linkname: `/${longFile}` },
        { path: 'opt/hard', type: 'hardlink', linkname: longFile },
      ],
    })
    expect(longFile.length).toBeGreaterThan(255)
    const { entries, error } = await readAll(layerOver(layer.bytes).entries())
    expect(error).toBeUndefined()
    expect(entries).toEqual([
      expect.objectContaining({ path: longFile, type: 'file', content: 'password=hunter2' }),
      expect.objectContaining({ path: 'opt/short-link', type: 'symlink', linkname: `/${longFile}` }),
      expect.objectContaining({ path: 'opt/hard', type: 'hardlink', linkname: longFile }),
    ])
  })

  it('reads GNU long names and long link names (././@LongLink)', async () => {
    const longName = `var/lib/${'x'.repeat(150)}/secret.txt`
    const longTarget = `usr/share/${'y'.repeat(140)}/target`
    const tar = concatBlocks([
      ...gnuLongHeader('L', longName),
      tarHeader({ name: longName.slice(0, 100), type: '0', size: 5, gnu: true }),
      padded(Buffer.from('hello')),
      ...gnuLongHeader('K', longTarget),
      tarHeader({ name: 'link', type: '2', linkname: longTarget.slice(0, 100), gnu: true }),
      endOfArchive(),
    ])
    const { entries, error } = await readAll(readLayerEntries(streamOf(tar)))
    expect(error).toBeUndefined()
    expect(entries).toEqual([
      expect.objectContaining({ path: longName, type: 'file', content: 'hello' }),
      expect.objectContaining({ path: 'link', type: 'symlink', linkname: longTarget }),
    ])
  })

  it('passes whiteouts through as ordinary entries', async () => {
    const layer = await buildLayer({ files: [whiteout('etc/app.env'), opaqueDirectory('var/cache'), { path: 'var/cache/new', content: 'x' }] })
    const { entries } = await readAll(layerOver(layer.bytes).entries())
    expect(entries.map((entry) => [entry.path, entry.type])).toEqual([
      ['etc/.wh.app.env', 'file'],
      ['var/cache/.wh..wh..opq', 'file'],
      ['var/cache/new', 'file'],
    ])
  })

  it('normalises paths: no leading ./ or /, no trailing /, no doubled slashes', async () => {
    const tar = await buildTar([
      { path: './', type: 'directory' },
      { path: './etc/', type: 'directory' },
      { path: './etc//passwd', content: 'root:x:0:0' },
      { path: '/abs/file', content: 'a' },
    ])
    const { entries } = await readAll(readLayerEntries(streamOf(tar)), { bodies: false })
    expect(entries.map((entry) => entry.path)).toEqual(['etc', 'etc/passwd', 'abs/file'])
  })

  it('reads multi-member gzip (a layer gzipped in parts)', async () => {
    const tar = await buildTar(files)
    const cut = 20_480
    const bytes = Buffer.concat([gzipSync(tar.subarray(0, cut)), gzipSync(tar.subarray(cut))])
    const { entries, error } = await readAll(layerOver(bytes).entries())
    expect(error).toBeUndefined()
    expect(entries).toHaveLength(files.length)
  })

  it('reads a zstd layer made of several frames', async () => {
    const tar = await buildTar(files)
    const cut = 20_480
    const bytes = Buffer.concat([zstdCompress(tar.subarray(0, cut)), zstdCompress(tar.subarray(cut))])
    const { entries, error } = await readAll(layerOver(bytes).entries())
    expect(error).toBeUndefined()
    expect(entries.map((entry) => entry.size)).toEqual(files.map((file) => (file.type && file.type !== 'file' ? 0 : (file.content?.length ?? 0))))
  })
})

describe('consumers that skip or stop', () => {
  it('does not stall when a body is left unread or half-read', async () => {
    const layer = await buildLayer({
      files: [
        { path: 'big-1.bin', content: randomBytes(2_000_000) },
        { path: 'big-2.bin', content: randomBytes(2_000_000) },
        { path: 'last.txt', content: 'end' },
      ],
    })
    const seen: string[] = []
    let last = ''
    for await (const entry of layerOver(layer.bytes).entries()) {
      seen.push(entry.path)
      if (entry.path === 'big-2.bin') {
        for await (const chunk of entry.body) {
          expect(chunk.byteLength).toBeGreaterThan(0)
          break
        }
      }
      if (entry.path === 'last.txt') for await (const chunk of entry.body) last += Buffer.from(chunk).toString()
    }
    expect(seen).toEqual(['big-1.bin', 'big-2.bin', 'last.txt'])
    expect(last).toBe('end')
  })

  it('cancels the blob stream when the consumer breaks out early', async () => {
    const layer = await buildLayer({ files: [{ path: 'a', content: randomBytes(1_000_000) }, { path: 'b', content: randomBytes(1_000_000) }] })
    let cancelled = false
    const stream = streamOf(layer.bytes, 16_384, { cancelled: () => (cancelled = true) })
    for await (const entry of readLayerEntries(stream)) {
      expect(entry.path).toBe('a')
      break
    }
    expect(cancelled).toBe(true)
  })

  it('closes the file it reads from when the consumer breaks out early', async () => {
    const layer = await buildLayer({ files: [{ path: 'a', content: randomBytes(3_000_000) }, { path: 'b', content: 'b' }] })
    const path = join(dir, 'early-break.tar.gz')
    await writeFile(path, layer.bytes)
    const before = (await readdir('/proc/self/fd')).length
    const onDisk = makeLayer(layer, 0, () => openFileStream(path))
    for await (const entry of onDisk.entries()) {
      expect(entry.path).toBe('a')
      break
    }
    // cancellation travels up the stream chain asynchronously; the file closes right after
    await expect.poll(async () => (await readdir('/proc/self/fd')).length, { timeout: 2000 }).toBe(before)
  })

  it('stops with ABORTED when the signal fires', async () => {
    const layer = await buildLayer({ files: [{ path: 'a', content: 'a' }, { path: 'b', content: 'b' }] })
    const controller = new AbortController()
    const seen: string[] = []
    const { error } = await readAll(
      (async function* () {
        for await (const entry of layerOver(layer.bytes).entries({ signal: controller.signal })) {
          seen.push(entry.path)
          controller.abort()
          yield entry
        }
      })(),
      { bodies: false },
    )
    expect(seen).toEqual(['a'])
    expect(isLayerleakError(error, 'ABORTED')).toBe(true)
  })
})

describe('damaged layers', () => {
  const damaged: FileSpec[] = [
    { path: 'a.txt', content: 'first' },
    { path: 'b.txt', content: 'second' },
    { path: 'c.bin', content: randomBytes(400_000) },
    { path: 'd.txt', content: 'never reached' },
  ]

  it('yields the complete entries of a truncated gzip layer, then INVALID_ARCHIVE', async () => {
    const layer = await buildLayer({ files: damaged })
    const truncated = layer.bytes.subarray(0, Math.floor(layer.bytes.byteLength * 0.6))
    for (const bodies of [true, false]) {
      const { entries, error } = await readAll(readLayerEntries(streamOf(truncated)), { bodies })
      expect(entries.slice(0, 2).map((entry) => entry.path)).toEqual(['a.txt', 'b.txt'])
      if (bodies) expect(entries.slice(0, 2).map((entry) => entry.content)).toEqual(['first', 'second'])
      expect(entries.map((entry) => entry.path)).not.toContain('d.txt')
      expect(isLayerleakError(error, 'INVALID_ARCHIVE')).toBe(true)
      expect((error as Error).message).toMatch(/gzip/)
    }
  })

  it('loses no complete entry of a truncated gzip layer when the consumer is slow', async () => {
    // 400 entries of 2000 bytes: each takes exactly 512 (header) + 2048 (data) bytes of tar
    const many = Array.from({ length: 400 }, (_, i) => ({ path: `f/${i}`, content: randomBytes(1000).toString('hex') }))
    const layer = await buildLayer({ files: many })
    const truncated = layer.bytes.subarray(0, Math.floor(layer.bytes.byteLength * 0.9))
    const decompressible = gunzipSync(truncated, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).byteLength
    const complete: string[] = []
    let error: unknown
    try {
      for await (const entry of readLayerEntries(streamOf(truncated))) {
        await new Promise((resolve) => setTimeout(resolve, 1)) // slow enough for gunzip to pause on a full sink
        let content = ''
        for await (const chunk of entry.body) content += Buffer.from(chunk).toString()
        if (content.length === 2000) complete.push(entry.path)
      }
    } catch (caught) {
      error = caught
    }
    expect(isLayerleakError(error, 'INVALID_ARCHIVE')).toBe(true)
    // entry i is whole once its header and 2000 bytes of data are in (its padding to 2048 need not be)
    const whole = decompressible < 2512 ? 0 : Math.floor((decompressible - 2512) / 2560) + 1
    expect(complete).toEqual(many.slice(0, whole).map((file) => file.path))
  })

  it('yields the complete entries of a truncated zstd layer, then INVALID_ARCHIVE', async () => {
    const layer = await buildLayer({ files: damaged, compression: 'zstd', compress: zstdCompress })
    const truncated = layer.bytes.subarray(0, Math.floor(layer.bytes.byteLength * 0.6))
    const { entries, error } = await readAll(readLayerEntries(streamOf(truncated)))
    expect(entries.slice(0, 2).map((entry) => entry.content)).toEqual(['first', 'second'])
    expect(isLayerleakError(error, 'INVALID_ARCHIVE')).toBe(true)
  })

  it('yields the complete entries of a truncated plain tar, then INVALID_ARCHIVE', async () => {
    const tar = await buildTar(damaged)
    const { entries, error } = await readAll(readLayerEntries(streamOf(tar.subarray(0, 200_000))))
    expect(entries.slice(0, 2).map((entry) => entry.content)).toEqual(['first', 'second'])
    expect(isLayerleakError(error, 'INVALID_ARCHIVE')).toBe(true)
    expect((error as Error).message).toMatch(/truncated/)
  })

  it('yields the entries before a corrupt tar header, then INVALID_ARCHIVE', async () => {
    const tar = await buildTar(damaged)
    const corrupt = Buffer.from(tar)
    // the third header sits after two one-block entries: 2 * (512 header + 512 data)
    expect(corrupt.subarray(2048, 2053).toString()).toBe('c.bin')
    corrupt[2048] = 'X'.charCodeAt(0)
    const { entries, error } = await readAll(readLayerEntries(streamOf(corrupt)))
    expect(entries.map((entry) => entry.content)).toEqual(['first', 'second'])
    expect(isLayerleakError(error, 'INVALID_ARCHIVE')).toBe(true)
  })

  it('yields every entry and then DIGEST_MISMATCH when the blob does not hash to its digest', async () => {
    const layer = await buildLayer({ files })
    const wrong = sha256Digest('something else')
    const { entries, error } = await readAll(layerOver(layer.bytes, wrong).entries())
    expect(entries).toHaveLength(files.length)
    expect(isLayerleakError(error, 'DIGEST_MISMATCH')).toBe(true)
    expect((error as Error).message).toContain(wrong)
  })

  it('names a bzip2 layer instead of failing on its bytes as tar', async () => {
    const { error } = await readAll(readLayerEntries(streamOf(Buffer.from('BZh91AY&SY this is not really bzip2'))))
    expect(isLayerleakError(error, 'INVALID_ARCHIVE')).toBe(true)
    expect((error as Error).message).toMatch(/bzip2/)
  })

  it('rejects bytes that are not a tar at all', async () => {
    const { entries, error } = await readAll(readLayerEntries(streamOf(randomBytes(4096))))
    expect(entries).toEqual([])
    expect(isLayerleakError(error, 'INVALID_ARCHIVE')).toBe(true)
  })
})

describe('the raw blob', () => {
  it('streams the compressed bytes as stored and reports progress in compressed bytes', async () => {
    const layer = await buildLayer({ files })
    const progress: number[] = []
    const blob = await layerOver(layer.bytes).blob({ onProgress: (bytes) => progress.push(bytes) })
    const bytes = new Uint8Array(await new Response(blob).arrayBuffer())
    expect(Buffer.from(bytes).equals(Buffer.from(layer.bytes))).toBe(true)
    expect(progress.at(-1)).toBe(layer.bytes.byteLength)
    expect(progress).toEqual([...progress].sort((a, b) => a - b))
  })

  it('fails the blob stream with DIGEST_MISMATCH at its end', async () => {
    const layer = await buildLayer({ files })
    const blob = await layerOver(layer.bytes, sha256Digest('nope')).blob()
    await expect(new Response(blob).arrayBuffer()).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' })
  })
})
