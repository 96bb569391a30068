/**
 * One layer blob downloaded into a partial file that outlives the run: `layerleak pull` resumes it
 * next time instead of starting over. The partial's bytes are hashed first (streamed), the source
 * is asked for the rest from there (`Range: bytes=N-`, a positioned read), the hash goes on over
 * the new bytes, and the WHOLE digest is checked at the end: the partial only becomes the blob when
 * every byte of it hashes right. A source that will not start at N (a registry ignoring the range)
 * starts at 0, and the partial is truncated then, never spliced. Kept bytes that turn out wrong
 * (a partial larger than the blob, a finished digest that does not match) cost one download from
 * scratch, said in a diagnostic event; a second wrong digest fails. The caller holds the lock
 * (pull-lock.ts) and renames the finished file.
 */
import { Buffer } from 'node:buffer'
import { createHash, type Hash } from 'node:crypto'
import { type FileHandle, open, rm, stat } from 'node:fs/promises'
import type { Layer } from '../core/contracts.ts'
import { algorithmOf } from '../core/digest.ts'
import { isLayerleakError, LayerleakError, toLayerleakError } from '../core/errors.ts'
import type { ScanEvent } from '../core/events.ts'

const READ_BYTES = 1024 * 1024

export interface BlobDownloadOptions {
  signal?: AbortSignal
  /** layer-progress (counted from the kept bytes) and diagnostic events */
  onEvent?: (event: ScanEvent) => void
}

/** a write may take fewer bytes than given: loop until the chunk is all on disk at `position` */
const writeAt = async (handle: FileHandle, chunk: Uint8Array, position: number): Promise<void> => {
  let written = 0
  while (written < chunk.byteLength) {
    written += (await handle.write(chunk, written, chunk.byteLength - written, position + written)).bytesWritten
  }
}

/** Hashes the first `length` bytes of the file, saying how far it got (a kept gigabyte takes seconds). */
const hashPrefix = async (handle: FileHandle, length: number, hash: Hash, onProgress: (bytes: number) => void): Promise<void> => {
  const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, Math.max(1, length)))
  for (let position = 0; position < length; ) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.byteLength, length - position), position)
    if (bytesRead === 0) throw new LayerleakError('INTERNAL', `the partial file ended at byte ${position}, before ${length}`)
    hash.update(buffer.subarray(0, bytesRead))
    position += bytesRead
    onProgress(position)
  }
}

const sizeOf = async (path: string): Promise<number> => {
  try {
    return (await stat(path)).size
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return 0
    throw error
  }
}

/** the finished file's digest or length is wrong */
const wrongBlob = (what: string, expected: string, actual: string, resumedFrom: number) =>
  new LayerleakError('DIGEST_MISMATCH', `${what}: expected ${expected}, got ${actual}${resumedFrom > 0 ? ` (resumed at byte ${resumedFrom})` : ''}`, {
    details: { expected, actual, resumedFrom },
  })

/**
 * Fills `partial` with the blob from byte `offset` on (the bytes before it are the partial's).
 * Leaves it complete and verified, or throws: wrong bytes are deleted, bytes that may be right
 * (the transfer failed, or was aborted) are kept and the error says so.
 */
const downloadFrom = async (layer: Layer, partial: string, offset: number, options: BlobDownloadOptions): Promise<void> => {
  const what = `layer ${layer.index} ${layer.digest}`
  const emit = options.onEvent ?? (() => {})
  const algorithm = algorithmOf(layer.digest)
  // 'r+' keeps the bytes, 'w' starts an empty file
  const handle = await open(partial, offset > 0 ? 'r+' : 'w', 0o644)
  let position = offset
  let resumedFrom = offset
  let failure: unknown
  try {
    let hash = createHash(algorithm)
    if (offset > 0) {
      await hashPrefix(handle, offset, hash, (bytes) => emit({ type: 'layer-progress', digest: layer.digest, bytes, size: layer.size }))
    }
    // a partial as long as the blob (killed before its rename) needs no more bytes, only the check
    if (offset < layer.size) {
      let start = offset
      const stream = await layer.blob({
        offset,
        onStart: (at) => {
          start = at
        },
        ...(options.signal ? { signal: options.signal } : {}),
        onProgress: (bytes) => emit({ type: 'layer-progress', digest: layer.digest, bytes, size: layer.size }),
      })
      if (start !== offset) {
        if (start !== 0) {
          await stream.cancel().catch(() => {})
          throw new LayerleakError('INTERNAL', `${what}: asked to start at byte ${offset}, the source started at ${start}`)
        }
        emit({
          type: 'diagnostic',
          diagnostic: { code: 'resume_refused', scope: 'layer', subject: layer.digest, message: `${what}: the source would not resume at byte ${offset}: downloading it from the start` },
        })
        await handle.truncate(0)
        hash = createHash(algorithm)
        position = 0
        resumedFrom = 0
      }
      for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
        // leaving the loop cancels the stream
        if (position + chunk.byteLength > layer.size) throw wrongBlob(what, `${layer.size} bytes`, 'more', resumedFrom)
        hash.update(chunk)
        await writeAt(handle, chunk, position)
        position += chunk.byteLength
      }
    }
    await handle.sync()
    if (position !== layer.size) throw wrongBlob(what, `${layer.size} bytes`, `${position}`, resumedFrom)
    const actual = `${algorithm}:${hash.digest('hex')}`
    if (actual !== layer.digest) throw wrongBlob(what, layer.digest, actual, resumedFrom)
  } catch (error) {
    failure = error
  }
  await handle.close().catch(() => {})
  if (failure === undefined) return
  // wrong bytes (ours, or the source's size checks) are worth nothing; an empty file neither
  if (isLayerleakError(failure, 'DIGEST_MISMATCH') || position === 0) {
    await rm(partial, { force: true })
    throw failure
  }
  const cause = toLayerleakError(failure)
  throw new LayerleakError(cause.code, `${cause.message}; its first ${position} of ${layer.size} bytes are kept in ${partial}: pull again to resume`, {
    cause,
    details: { ...cause.details, partial, kept: position },
  })
}

/**
 * Downloads `layer`'s blob into `partial`, resuming what an earlier run left there. Resolves once
 * the file holds the whole blob, digest-verified.
 */
export const downloadBlob = async (layer: Layer, partial: string, options: BlobDownloadOptions = {}): Promise<void> => {
  const what = `layer ${layer.index} ${layer.digest}`
  const discarded = (message: string) =>
    options.onEvent?.({ type: 'diagnostic', diagnostic: { code: 'partial_discarded', scope: 'layer', subject: layer.digest, message } })
  let kept = await sizeOf(partial)
  if (kept > layer.size) {
    discarded(`${what}: ${partial} holds ${kept} bytes, more than the blob's ${layer.size}: discarded, downloading from scratch`)
    await rm(partial, { force: true })
    kept = 0
  }
  try {
    await downloadFrom(layer, partial, kept, options)
  } catch (error) {
    const resumedFrom = isLayerleakError(error, 'DIGEST_MISMATCH') ? Number(error.details.resumedFrom ?? 0) : 0
    if (resumedFrom === 0) throw error
    // the kept bytes were wrong (the file was deleted): one download from scratch, never more
    discarded(`${what}: the ${resumedFrom} bytes kept in ${partial} did not add up to the digest: downloading from scratch`)
    await downloadFrom(layer, partial, 0, options)
  }
}
