/**
 * A blob's bytes as one stream that survives a dropped connection: when the body fails part-way
 * (a reset, an idle timeout), it asks again from where it stopped (`Range: bytes=N-`) and carries
 * on, as regclient does; a server that ignores the range is read from the start and the bytes
 * already delivered are skipped. It also holds the registry to the size the manifest states:
 * more bytes, or fewer at the end, fail the stream with DIGEST_MISMATCH. (The digest itself is
 * verified by the layer reader, so bytes are hashed once.)
 *
 * A stream may start past 0 (`start`: a pull resuming a partial file from an earlier run). Then
 * the caller holds the bytes before it, and a registry that ignores the range (200), answers
 * another one or refuses it (416) is not trusted to line up with them: the stream starts at 0
 * instead, from a fresh request when needed, and `onStart` says so. Skipping is only done within
 * one stream, over bytes this stream delivered itself.
 */
import { LayerleakError } from '../../core/errors.ts'

export interface OpenedBlob {
  body: ReadableStream<Uint8Array>
  /** true when the body starts at the requested offset (206), false when it starts at 0 */
  partial: boolean
}

export interface ResumableBlobOptions {
  /** tries in all, the first included */
  attempts: number
  /** the byte of the blob to start at (default 0) */
  start?: number
  /** called before this resolves with the byte the stream does start at: `start`, or 0 */
  onStart?: (start: number) => void
  /** why a `start` past 0 was not honoured */
  log?: (message: string) => void
  /** the size the manifest states, when known */
  expectedSize?: number
  /** `blob sha256:... of ghcr.io/org/app`, for messages */
  what: string
  signal?: AbortSignal
}

const RESUMABLE = new Set(['NETWORK_ERROR', 'TIMEOUT'])

/** Thrown by an opener whose server answered a range other than the one asked for. */
export const rangeRefused = (what: string, offset: number, answered: string): LayerleakError =>
  new LayerleakError('REGISTRY_ERROR', `${what}: asked to resume at byte ${offset}, got ${answered}`, { details: { rangeRefused: true, offset, answered } })

const isRangeRefusal = (error: unknown): boolean => {
  const details = (error as LayerleakError)?.details
  return details?.rangeRefused === true || details?.status === 416
}

const sizeMismatch = (what: string, expected: number, actual: string): LayerleakError =>
  new LayerleakError('DIGEST_MISMATCH', `${what}: the manifest says ${expected} bytes, the registry sent ${actual}`, {
    details: { expectedSize: expected },
  })

export const resumableBlob = async (open: (offset: number) => Promise<OpenedBlob>, options: ResumableBlobOptions): Promise<ReadableStream<Uint8Array>> => {
  const { expectedSize, what } = options
  const start = options.start ?? 0
  let first: OpenedBlob
  try {
    first = await open(start)
  } catch (error) {
    if (start === 0 || !isRangeRefusal(error)) throw error
    options.log?.(`${what}: the registry refused to resume at byte ${start} (${(error as Error).message}): downloading it from the start`)
    first = await open(0)
  }
  if (start > 0 && !first.partial) options.log?.(`${what}: the registry ignored the range from byte ${start}: downloading it from the start`)
  /** the byte of the blob the next chunk delivered is: bytes before `start` were never this stream's */
  let received = first.partial ? start : 0
  options.onStart?.(received)
  let reader = first.body.getReader()
  let skip = 0
  let tries = 1

  const resume = async (error: unknown): Promise<void> => {
    const failure = error as LayerleakError
    if (!RESUMABLE.has(failure?.code) || tries >= options.attempts || options.signal?.aborted) {
      if (!RESUMABLE.has(failure?.code)) throw error
      throw new LayerleakError(failure.code, `${failure.message} (${what}: ${received} bytes received, ${tries} ${tries === 1 ? 'attempt' : 'attempts'})`, {
        cause: failure,
        details: { ...failure.details, received, attempts: tries },
      })
    }
    tries++
    const next = await open(received)
    skip = next.partial ? 0 : received
    reader = next.body.getReader()
  }

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        let chunk: Uint8Array
        try {
          const { done, value } = await reader.read()
          if (done) {
            if (skip > 0 || (expectedSize !== undefined && received < expectedSize)) {
              return controller.error(sizeMismatch(what, expectedSize ?? received, `only ${received} (the body ended early)`))
            }
            return controller.close()
          }
          chunk = value
        } catch (error) {
          try {
            await resume(error)
          } catch (final) {
            return controller.error(final)
          }
          continue
        }
        if (skip > 0) {
          const dropped = Math.min(skip, chunk.byteLength)
          skip -= dropped
          chunk = chunk.subarray(dropped)
          if (chunk.byteLength === 0) continue
        }
        received += chunk.byteLength
        if (expectedSize !== undefined && received > expectedSize) {
          await reader.cancel().catch(() => {})
          return controller.error(sizeMismatch(what, expectedSize, `more (${received} so far)`))
        }
        return controller.enqueue(chunk)
      }
    },
    cancel(reason) {
      return reader.cancel(reason)
    },
  })
}
