/**
 * A byte range of a local file as a web ReadableStream, read with positioned reads on one file
 * handle: the oci-layout source serves whole blobs with it, the docker-archive source serves tar
 * members in place (no extraction). Large chunks keep the per-chunk cost of web streams low.
 */
import { Buffer } from 'node:buffer'
import { type FileHandle, open } from 'node:fs/promises'
import { LayerleakError, toLayerleakError } from '../../core/errors.ts'

/** 256 KiB: big enough that stream bookkeeping is noise next to decompression */
const CHUNK_BYTES = 256 * 1024

export interface FileRange {
  /** byte offset of the range (default 0) */
  start?: number
  /** bytes to read (default: to the end of the file) */
  length?: number
  signal?: AbortSignal
  /** names the thing in errors: `layer sha256:…`, `archive member x/layer.tar` */
  what?: string
}

const isMissing = (error: unknown): boolean => (error as { code?: string })?.code === 'ENOENT' || (error as { code?: string })?.code === 'ENOTDIR'

/** Opens the file now (so a missing file is NOT_FOUND here, not mid-stream) and streams the range. */
export const openFileStream = async (path: string, range: FileRange = {}): Promise<ReadableStream<Uint8Array>> => {
  const what = range.what ?? path
  if (range.signal?.aborted) throw new LayerleakError('ABORTED', `reading ${what} was aborted`)
  let handle: FileHandle
  try {
    handle = await open(path, 'r')
  } catch (error) {
    if (isMissing(error)) throw new LayerleakError('NOT_FOUND', `${what} not found: no file ${path}`, { cause: error, details: { path } })
    throw toLayerleakError(error)
  }
  const start = range.start ?? 0
  let remaining: number
  try {
    remaining = range.length ?? Math.max(0, (await handle.stat()).size - start)
  } catch (error) {
    await handle.close().catch(() => {})
    throw toLayerleakError(error)
  }
  let position = start
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await handle.close().catch(() => {})
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (closed) return
      if (range.signal?.aborted) {
        await close()
        controller.error(new LayerleakError('ABORTED', `reading ${what} was aborted`))
        return
      }
      if (remaining === 0) {
        await close()
        controller.close()
        return
      }
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, remaining))
      let bytesRead: number
      try {
        bytesRead = (await handle.read(buffer, 0, buffer.byteLength, position)).bytesRead
      } catch (error) {
        if (closed) return
        await close()
        controller.error(toLayerleakError(error))
        return
      }
      if (closed) return // cancelled while the read was in flight
      if (bytesRead === 0) {
        await close()
        controller.error(new LayerleakError('INVALID_ARCHIVE', `${what} is truncated: ${path} ends ${remaining} bytes early`, { details: { path } }))
        return
      }
      position += bytesRead
      remaining -= bytesRead
      controller.enqueue(buffer.subarray(0, bytesRead))
      if (remaining === 0) {
        await close()
        controller.close()
      }
    },
    async cancel() {
      await close()
    },
  })
}

/** Reads `length` bytes at `start` in one go (small things: manifests, configs, magic bytes). */
export const readFileRange = async (path: string, start: number, length: number): Promise<Uint8Array> => {
  const handle = await open(path, 'r')
  try {
    const bytes = new Uint8Array(length)
    let filled = 0
    while (filled < length) {
      const { bytesRead } = await handle.read(bytes, filled, length - filled, start + filled)
      if (bytesRead === 0) break
      filled += bytesRead
    }
    return filled === length ? bytes : bytes.subarray(0, filled)
  } finally {
    await handle.close().catch(() => {})
  }
}
