/**
 * Streaming decompression of layer blobs. What a blob is comes from its first bytes, never from
 * its media type: tools label plain tars `+gzip` and gzip blobs `.tar`, and only the bytes tell.
 *
 * Output is pushed into a sink with backpressure, so a decompression bomb (a file of zeros
 * compresses about 1000:1 with gzip, 30000:1 with zstd) costs bounded memory: zlib stops when the
 * sink is full, and the pure-JS zstd decoder is fed small slices.
 */
import * as zlib from 'node:zlib'
import type { Transform } from 'node:stream'
import { setImmediate } from 'node:timers'
import { Decompress as FzstdDecompress } from 'fzstd'

export type Compression = 'gzip' | 'zstd' | 'none'

/** how many leading bytes `detectCompression` looks at */
export const MAGIC_LENGTH = 6

export const detectCompression = (head: Uint8Array): Compression => {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip'
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd'
  return 'none'
}

/** Compressions layers may not use but people still produce; named so an error can say what the bytes are. */
export const unsupportedCompression = (head: Uint8Array): string | undefined => {
  if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2'
  if (head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00) return 'xz'
  return undefined
}

/** Where decompressed bytes go. */
export interface ByteSink {
  /** takes a chunk; false asks the producer to wait for `drained()` before sending more */
  write(chunk: Uint8Array): boolean
  /** resolves when the sink takes bytes again (or will never take any: it was closed) */
  drained(): Promise<void>
}

export interface Decompressor {
  compression: Compression
  /** 'node:zlib' or 'fzstd': which implementation runs, for benchmarks and diagnostics */
  implementation: string
  /** Decompresses a chunk; resolves once its output has been handed to the sink. */
  write(chunk: Uint8Array): Promise<void>
  /** No more input: resolves when all output is out, rejects when the stream stopped mid-way. */
  end(): Promise<void>
  /** Stops now, dropping whatever is in flight. */
  destroy(): void
}

/** zlib's default output chunk is 16 KiB; larger chunks mean fewer hops through the tar parser (64 KiB -> 1 MiB: the bench image's scan ~15% faster) */
const ZLIB_CHUNK = 1024 * 1024
/** compressed bytes queued ahead of zlib, so it never waits for the next read */
const ZLIB_INPUT_QUEUE = 512 * 1024

/** zlib hands stream options on to its Transform; the typings only list the zlib ones */
const zlibOptions: zlib.ZlibOptions & { writableHighWaterMark: number } = { chunkSize: ZLIB_CHUNK, writableHighWaterMark: ZLIB_INPUT_QUEUE }

type ZstdFactory = (options: zlib.ZlibOptions) => Transform
/** node:zlib has zstd from Node 22.15 / 23.8 (and in runtimes that follow it); older ones get fzstd */
const nativeZstd = (zlib as unknown as { createZstdDecompress?: ZstdFactory }).createZstdDecompress

/** true when zstd runs in node:zlib rather than in JavaScript */
export const hasNativeZstd = (): boolean => typeof nativeZstd === 'function'

const passThrough = (sink: ByteSink): Decompressor => ({
  compression: 'none',
  implementation: 'none',
  async write(chunk) {
    if (!sink.write(chunk)) await sink.drained()
  },
  async end() {},
  destroy() {},
})

/**
 * A node:zlib transform driven by hand: output flows into the sink, the transform pauses when the
 * sink is full (zlib then stops inflating), and each write resolves once zlib has consumed it.
 */
const zlibDecompressor = (compression: Compression, transform: Transform, sink: ByteSink): Decompressor => {
  let failure: Error | undefined
  let resumed: Promise<void> | undefined
  let lastWrite: Promise<void> = Promise.resolve()
  transform.on('data', (chunk: Uint8Array) => {
    if (sink.write(chunk) || resumed) return
    transform.pause()
    resumed = sink.drained().then(() => {
      resumed = undefined
      if (!transform.destroyed) transform.resume()
    })
  })
  transform.on('error', (error: Error) => {
    failure ??= error
  })
  /** waits for `start` to call back, or for the transform to fail or close first */
  const settle = (start: (done: (error?: Error | null) => void) => void): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (failure) return reject(failure)
      if (transform.destroyed) return reject(new Error(`${compression} decompressor is closed`))
      let settled = false
      const finish = (error?: Error | null) => {
        if (settled) return
        settled = true
        transform.off('error', finish)
        transform.off('close', onClose)
        if (error) reject(failure ?? error)
        else resolve()
      }
      const onClose = () => finish(failure ?? new Error(`${compression} decompressor closed`))
      transform.on('error', finish)
      transform.on('close', onClose)
      start(finish)
    })
  return {
    compression,
    implementation: 'node:zlib',
    // Resolving on the transform's own backpressure rather than per chunk keeps zlib inflating in
    // the thread pool while the tar parser works on the main thread.
    async write(chunk) {
      if (failure) throw failure
      let accepted = true
      // the callback runs once zlib has consumed the chunk (or failed): end() waits for the last one
      lastWrite = new Promise<void>((resolve) => {
        accepted = transform.write(chunk, () => resolve())
      })
      if (!accepted) await settle((done) => transform.once('drain', () => done()))
    },
    async end() {
      // Hand every byte to the sink before flushing: a flush that fails (truncated input) destroys
      // the transform, and with it whatever output it still held.
      await settle((done) => lastWrite.then(() => done()))
      while (transform.readableLength > 0 && !transform.destroyed && !failure) {
        await (resumed ?? new Promise((resolve) => setImmediate(resolve)))
      }
      await settle((done) => {
        transform.once('end', () => done())
        transform.end()
      })
    },
    destroy() {
      transform.destroy()
    },
  }
}

/**
 * fzstd decodes synchronously, a zstd block (up to 128 KiB of output, far more for run-length
 * blocks) per callback, with no way to pause mid-push. Feeding it 1 KiB at a time bounds what
 * one push can produce to ~32 MiB even for a file of zeros, at no measurable cost in speed.
 */
const FZSTD_SLICE = 1024

const fzstdDecompressor = (sink: ByteSink): Decompressor => {
  let full = false
  let destroyed = false
  const decoder = new FzstdDecompress((chunk) => {
    if (chunk.byteLength > 0 && !sink.write(chunk)) full = true
  })
  return {
    compression: 'zstd',
    implementation: 'fzstd',
    async write(chunk) {
      for (let at = 0; at < chunk.byteLength && !destroyed; at += FZSTD_SLICE) {
        decoder.push(chunk.subarray(at, at + FZSTD_SLICE), false)
        if (full) {
          full = false
          await sink.drained()
        }
      }
    },
    async end() {
      if (!destroyed) decoder.push(new Uint8Array(0), true)
    },
    destroy() {
      destroyed = true
    },
  }
}

export const createDecompressor = (compression: Compression, sink: ByteSink): Decompressor => {
  if (compression === 'gzip') return zlibDecompressor('gzip', zlib.createGunzip(zlibOptions), sink)
  if (compression === 'zstd') {
    return nativeZstd ? zlibDecompressor('zstd', nativeZstd(zlibOptions), sink) : fzstdDecompressor(sink)
  }
  return passThrough(sink)
}
