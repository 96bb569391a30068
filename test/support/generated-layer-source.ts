/**
 * A Source whose one image has one uncompressed layer generated on the fly: a tar of files whose
 * bytes come from a repeating pattern, produced chunk by chunk as the reader pulls. A layer of
 * hundreds of megabytes costs a few 64 KiB buffers, so tests can prove the explorer streams (output
 * before the end, memory far below the layer size, reading stopped early). The digest is computed
 * by generating the tar once through sha256; `generatedBytes()` says how far a reader has pulled.
 */
import { createHash } from 'node:crypto'
import type { ImageConfig, Layer, Source, Target } from '../../core/contracts.ts'
import { sha256Digest } from '../../core/digest.ts'
import { MediaTypes } from '../../core/media-types.ts'
import { makeLayer } from '../../plugins/sources/layer-reader.ts'

export interface GeneratedFile {
  path: string
  size: number
  /** the byte at offset i is pattern[i % pattern.length] (default: a 64 KiB pseudo-random pattern) */
  pattern?: Uint8Array
}

const BLOCK = 512
const CHUNK = 64 * 1024
const encoder = new TextEncoder()

/** A ustar header for a regular file (names up to 100 bytes: enough for generated fixtures). */
const fileHeader = (path: string, size: number): Uint8Array => {
  const header = new Uint8Array(BLOCK)
  const put = (offset: number, length: number, text: string) => header.set(encoder.encode(text).subarray(0, length), offset)
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0')
  put(0, 100, path)
  put(100, 8, octal(0o644, 8))
  put(108, 8, octal(0, 8))
  put(116, 8, octal(0, 8))
  put(124, 12, octal(size, 12))
  put(136, 12, octal(1_704_067_200, 12))
  put(156, 1, '0')
  put(257, 6, 'ustar\0')
  put(263, 2, '00')
  header.fill(0x20, 148, 156)
  const checksum = header.reduce((sum, byte) => sum + byte, 0)
  put(148, 8, `${checksum.toString(8).padStart(6, '0')}\0 `)
  return header
}

export const defaultPattern = (): Uint8Array => {
  const pattern = new Uint8Array(CHUNK)
  let state = 0x2545f491
  for (let i = 0; i < pattern.length; i++) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    pattern[i] = state & 0xff
  }
  return pattern
}

/** The file's bytes from `offset`, `length` of them. */
const patternSlice = (pattern: Uint8Array, offset: number, length: number): Uint8Array => {
  const out = new Uint8Array(length)
  let filled = 0
  while (filled < length) {
    const start = (offset + filled) % pattern.length
    const take = Math.min(length - filled, pattern.length - start)
    out.set(pattern.subarray(start, start + take), filled)
    filled += take
  }
  return out
}

/** The tar, as a lazy sequence of chunks. */
function* tarChunks(files: GeneratedFile[], fallback: Uint8Array): Generator<Uint8Array> {
  for (const file of files) {
    yield fileHeader(file.path, file.size)
    const pattern = file.pattern ?? fallback
    for (let offset = 0; offset < file.size; offset += CHUNK) yield patternSlice(pattern, offset, Math.min(CHUNK, file.size - offset))
    const padding = (BLOCK - (file.size % BLOCK)) % BLOCK
    if (padding) yield new Uint8Array(padding)
  }
  yield new Uint8Array(BLOCK * 2)
}

/** The expected content of a generated file (for small files only: it is built in memory). */
export const generatedContent = (file: GeneratedFile): Uint8Array => patternSlice(file.pattern ?? defaultPattern(), 0, file.size)

export interface GeneratedImage {
  source: Source
  reference: string
  layerSize: number
  /** bytes of the tar handed to readers so far, across all reads */
  generatedBytes(): number
}

export const generatedImageSource = (files: GeneratedFile[], name = 'big'): GeneratedImage => {
  const pattern = defaultPattern()
  const hash = createHash('sha256')
  let size = 0
  for (const chunk of tarChunks(files, pattern)) {
    hash.update(chunk)
    size += chunk.byteLength
  }
  const digest = `sha256:${hash.digest('hex')}`
  let generated = 0
  const openRaw = async (): Promise<ReadableStream<Uint8Array>> => {
    const chunks = tarChunks(files, pattern)
    return new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          const next = chunks.next()
          if (next.done) return controller.close()
          generated += next.value.byteLength
          controller.enqueue(next.value)
        },
      },
      { highWaterMark: 1 },
    )
  }
  const layer: Layer = makeLayer({ digest, mediaType: MediaTypes.ociLayer, size }, 0, openRaw)
  const config: ImageConfig = {
    digest: `sha256:${'0'.repeat(64)}`,
    raw: {},
    platform: { os: 'linux', architecture: 'amd64' },
    env: [],
    labels: {},
    cmd: [],
    entrypoint: [],
    user: '',
    workingDir: '',
    exposedPorts: [],
    volumes: [],
    stopSignal: '',
    history: [{ created_by: 'COPY big / # generated', empty_layer: false }],
    diffIds: [digest],
  }
  const reference = `generated:${name}`
  const target: Target = {
    reference,
    repository: name,
    registry: 'generated',
    resolvedDigest: sha256Digest(`manifest of ${name}`),
    resolvedMediaType: MediaTypes.ociManifest,
    tags: [],
    manifest: { mediaType: MediaTypes.ociManifest, digest: sha256Digest(`manifest of ${name}`), size: 0, raw: {} },
    platform: { os: 'linux', architecture: 'amd64' },
    config: async () => config,
    layers: async () => [layer],
  }
  return {
    source: {
      name: 'generated',
      accepts: (ref) => ref === reference,
      async *resolve() {
        yield target
      },
    },
    reference,
    layerSize: size,
    generatedBytes: () => generated,
  }
}
