/**
 * Turns a layer blob into tar entries, for every source: compressed bytes -> digest check ->
 * gunzip / zstd / nothing (by magic bytes) -> tar-stream -> LayerEntry. One pump moves bytes from
 * the blob into the tar parser with backpressure all the way, so a layer of any size costs a few
 * buffers, and the consumer sets the pace.
 *
 * Order of failures, as the contract promises: every complete entry is yielded first, then the
 * iterator throws (INVALID_ARCHIVE for truncated or corrupt input, DIGEST_MISMATCH when the bytes
 * do not hash to the digest, whatever the blob stream failed with otherwise).
 */
import { Buffer } from 'node:buffer'
import { extract as tarExtract } from 'tar-stream'
import type { BlobOptions, EntryType, Layer, LayerDescriptor, LayerEntry, OpenOptions } from '../../core/contracts.ts'
import { verifyingStream } from '../../core/digest.ts'
import { LayerleakError, toLayerleakError } from '../../core/errors.ts'
import { type ByteSink, type Compression, createDecompressor, type Decompressor, detectCompression, MAGIC_LENGTH, unsupportedCompression } from './decompress.ts'
import { normaliseEntryPath } from './tar-index.ts'

export interface ReadEntriesOptions {
  signal?: AbortSignal
  /** names the layer in error messages (`layer 2 sha256:…`) */
  what?: string
}

type TarHeader = {
  name: string
  type?: string | null
  size?: number
  mode?: number
  uid?: number
  gid?: number
  mtime?: Date
  linkname?: string | null
}
type TarEntryStream = AsyncIterable<Uint8Array> & { header: TarHeader }
type TarExtract = ReturnType<typeof tarExtract>

/** pre-POSIX (v7) headers have no magic but still a checksum, which is what catches garbage */
const extractOptions = { allowUnknownFormat: true }

const entryType = (type: string | null | undefined): EntryType => {
  switch (type) {
    case 'file':
    case 'contiguous-file':
      return 'file'
    case 'directory':
      return 'directory'
    case 'symlink':
      return 'symlink'
    case 'link':
      return 'hardlink'
    case 'character-device':
      return 'char-device'
    case 'block-device':
      return 'block-device'
    case 'fifo':
      return 'fifo'
    default:
      return 'other'
  }
}

/** resolves when the writable takes bytes again, or is gone */
const drainedOrClosed = (writable: TarExtract): Promise<void> =>
  new Promise((resolve) => {
    if (writable.destroyed) return resolve()
    const done = () => {
      writable.off('drain', done)
      writable.off('close', done)
      resolve()
    }
    writable.once('drain', done)
    writable.once('close', done)
  })

const tarError = (error: unknown, what: string): LayerleakError => {
  const message = error instanceof Error ? error.message : String(error)
  if (/unexpected end of data/i.test(message)) {
    return new LayerleakError('INVALID_ARCHIVE', `${what} is truncated: the tar stream ends in the middle of an entry`, { cause: error })
  }
  return new LayerleakError('INVALID_ARCHIVE', `${what} is not a valid tar archive: ${message}`, { cause: error })
}

/**
 * The bytes of one entry. The consumer may read all, some or none of it: whatever it leaves is
 * drained by the reader before the next entry (tar-stream stalls otherwise). Breaking out of a
 * `for await` over the body must not destroy the entry stream, which would kill the whole archive.
 */
class EntryBody implements AsyncIterable<Uint8Array> {
  #stream: TarEntryStream | undefined
  #iterator: AsyncIterator<Uint8Array> | undefined
  #translate: (error: unknown) => LayerleakError

  constructor(stream: TarEntryStream | undefined, translate: (error: unknown) => LayerleakError) {
    this.#stream = stream
    this.#translate = translate
  }

  async next(): Promise<IteratorResult<Uint8Array>> {
    if (!this.#stream) return { done: true, value: undefined }
    this.#iterator ??= this.#stream[Symbol.asyncIterator]()
    try {
      const result = await this.#iterator.next()
      if (result.done) this.#stream = undefined
      return result
    } catch (error) {
      this.#stream = undefined
      throw this.#translate(error)
    }
  }

  async drain(): Promise<void> {
    while (!(await this.next()).done) {}
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => this.next(),
      return: async () => ({ done: true, value: undefined }),
    }
  }
}

/** Reads the layer's tar entries from its blob (compressed or not). See the file comment for failure order. */
export async function* readLayerEntries(blob: ReadableStream<Uint8Array>, options: ReadEntriesOptions = {}): AsyncGenerator<LayerEntry, void, undefined> {
  const what = options.what ?? 'layer'
  const signal = options.signal
  if (signal?.aborted) {
    await blob.cancel().catch(() => {})
    throw new LayerleakError('ABORTED', `reading ${what} was aborted`)
  }
  const reader = blob.getReader()
  const extract = tarExtract(extractOptions as Parameters<typeof tarExtract>[0])
  let failure: LayerleakError | undefined
  let stopped = false
  let decompressor: Decompressor | undefined
  let compression: Compression = 'none'

  const sink: ByteSink = {
    write: (chunk) => extract.write(chunk),
    drained: () => drainedOrClosed(extract),
  }

  const pump = async (): Promise<void> => {
    try {
      const head: Uint8Array[] = []
      let headLength = 0
      let ended = false
      while (headLength < MAGIC_LENGTH) {
        const { done, value } = await reader.read()
        if (done) {
          ended = true
          break
        }
        head.push(value)
        headLength += value.byteLength
      }
      const first = head.length === 1 ? head[0] : Buffer.concat(head)
      const unsupported = unsupportedCompression(first)
      if (unsupported) {
        throw new LayerleakError('INVALID_ARCHIVE', `${what} is ${unsupported}-compressed: layers are tar, tar+gzip or tar+zstd`)
      }
      compression = detectCompression(first)
      decompressor = createDecompressor(compression, sink)
      if (first.byteLength > 0) await feed(first)
      while (!ended && !stopped) {
        const { done, value } = await reader.read()
        if (done) break
        await feed(value)
      }
    } catch (error) {
      failure ??= toLayerleakError(error, 'NETWORK_ERROR')
    }
    // Flush even after a read failure (a digest mismatch arrives after the last byte): the entries
    // that are complete still come out, then the failure.
    if (decompressor && !stopped) {
      try {
        await decompressor.end()
      } catch (error) {
        failure ??= decompressionError(error)
      }
    }
    if (!stopped) extract.end(null)
  }

  const decompressionError = (error: unknown): LayerleakError =>
    error instanceof LayerleakError
      ? error
      : new LayerleakError('INVALID_ARCHIVE', `${what} is not a valid ${compression} stream (truncated or corrupt): ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        })

  const feed = async (chunk: Uint8Array): Promise<void> => {
    try {
      await decompressor!.write(chunk)
    } catch (error) {
      throw decompressionError(error)
    }
  }

  /** what to throw for an error seen downstream: the pump's own failure is the root cause when there is one */
  const translate = (error: unknown): LayerleakError => failure ?? (error instanceof LayerleakError ? error : tarError(error, what))

  const stop = (reason?: LayerleakError) => {
    if (stopped) return
    stopped = true
    reader.cancel(reason).catch(() => {})
    decompressor?.destroy()
    extract.destroy(reason)
  }
  const onAbort = () => {
    failure ??= new LayerleakError('ABORTED', `reading ${what} was aborted`)
    stop(failure)
  }
  signal?.addEventListener('abort', onAbort, { once: true })

  const pumping = pump()
  const entries = extract[Symbol.asyncIterator]() as AsyncIterator<TarEntryStream>
  let completed = false
  try {
    for (;;) {
      let next: IteratorResult<TarEntryStream>
      try {
        next = await entries.next()
      } catch (error) {
        throw translate(error)
      }
      if (next.done) break
      const stream = next.value
      const header = stream.header
      const type = entryType(header.type)
      const size = header.size ?? 0
      // tar-stream only routes data through the entry stream for these; others have nothing to drain
      const body = new EntryBody(size > 0 && header.type !== 'directory' ? stream : undefined, translate)
      const path = normaliseEntryPath(header.name)
      if (path === '' && type === 'directory') continue // the archive root (`./`) says nothing about the image
      yield {
        path,
        type,
        size,
        mode: header.mode ?? 0,
        uid: header.uid ?? 0,
        gid: header.gid ?? 0,
        ...(header.mtime ? { mtime: header.mtime } : {}),
        ...(header.linkname ? { linkname: header.linkname } : {}),
        body,
      }
      await body.drain()
    }
    await pumping
    if (failure) throw failure
    completed = true
  } finally {
    signal?.removeEventListener('abort', onAbort)
    if (!completed) stop()
    await pumping
  }
}

/** Counts compressed bytes as they pass, for progress bars (from `start`: a resumed blob's position). */
const progressCounter = (onProgress: (bytes: number) => void, start = 0): TransformStream<Uint8Array, Uint8Array> => {
  let total = start
  return new TransformStream({
    transform(chunk, controller) {
      total += chunk.byteLength
      onProgress(total)
      controller.enqueue(chunk)
    },
  })
}

/**
 * A Layer over any way of opening its raw bytes: the registry source passes a blob fetch, the local
 * sources a file range. Verification and decompression are the same for all of them. With an
 * `offset` (see BlobOptions) `openRaw` is asked to start there and to report where it did start
 * through `onStart`; one that does not report is taken to start at 0, so an opener that ignores
 * offsets stays correct. Those streams are not verified here: the caller holds the prefix.
 */
export const makeLayer = (
  descriptor: LayerDescriptor,
  index: number,
  openRaw: (options?: BlobOptions) => Promise<ReadableStream<Uint8Array>>,
): Layer => {
  const what = `layer ${index} ${descriptor.digest}`
  const blob = async (options: BlobOptions = {}): Promise<ReadableStream<Uint8Array>> => {
    if (options.offset === undefined) {
      const { onStart: _onStart, ...plain } = options
      const verified = (await openRaw(plain)).pipeThrough(verifyingStream(descriptor.digest, what))
      return options.onProgress ? verified.pipeThrough(progressCounter(options.onProgress)) : verified
    }
    let start = 0
    const raw = await openRaw({
      ...options,
      onStart: (at) => {
        start = at
      },
    })
    options.onStart?.(start)
    return options.onProgress ? raw.pipeThrough(progressCounter(options.onProgress, start)) : raw
  }
  return {
    ...descriptor,
    index,
    blob,
    async *entries(options: OpenOptions = {}) {
      yield* readLayerEntries(await blob(options), { ...(options.signal ? { signal: options.signal } : {}), what })
    },
  }
}
