/**
 * The HTTP layer under the registry client: per-request timeouts (an idle timeout for streamed
 * blob bodies instead of a total one), retries with exponential backoff and jitter on network
 * errors, timeouts, 408, 429 and 5xx (Retry-After honoured up to a cap), and redirects followed
 * by hand so an Authorization header never reaches a host other than the one it was meant for.
 * It knows nothing of registries: status codes other than the retryable ones are the caller's.
 */
import { LayerleakError } from '../../core/errors.ts'

export interface HttpOptions {
  fetch: typeof fetch
  /** ms for a request's headers and, for buffered reads, its whole body */
  timeoutMs: number
  /** ms a streamed body may go without a byte while the reader is waiting */
  blobIdleTimeoutMs: number
  /** tries per request, the first included */
  attempts: number
  /** ms before the first retry; doubled each time, with jitter */
  retryBaseDelayMs: number
  /** ms cap on one wait: backoff, and Retry-After (a longer Retry-After ends the retries) */
  maxRetryDelayMs: number
  userAgent: string
  logger?: (message: string) => void
  /** every answer, retried ones included: the host pacer reads rate-limit headers and 429s here */
  onResponse?: (request: HttpRequest, status: number, headers: Headers) => void
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST'
  url: string
  headers?: Record<string, string>
  body?: string
  signal?: AbortSignal
}

export interface ReadOptions {
  /** hand a 2xx body back as a stream (blobs) rather than reading it */
  stream?: boolean
  /** cap on a buffered body; 0 means none */
  maxBytes?: number
  /** the limit's name for LIMIT_EXCEEDED, e.g. `max_manifest_bytes` */
  limitName?: string
}

export interface HttpResponse {
  status: number
  headers: Headers
  /** the URL that answered, after redirects */
  url: string
  /** the body of a buffered read, and of every non-2xx response (capped) */
  bytes: Uint8Array
  /** the body of a 2xx streamed read */
  body?: ReadableStream<Uint8Array>
  /** how many tries it took */
  attempts: number
}

export interface Http {
  send(request: HttpRequest, read?: ReadOptions): Promise<HttpResponse>
}

const REDIRECTS = new Set([301, 302, 303, 307, 308])
const MAX_REDIRECTS = 10
/** error bodies are for messages; never read much of them */
const MAX_ERROR_BODY = 65_536

export const isRetryableStatus = (status: number): boolean => status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505)

/** `Retry-After` as ms from now: delta-seconds or an HTTP-date; undefined when absent or unreadable. */
export const parseRetryAfter = (value: string | null, now = Date.now()): number | undefined => {
  if (!value) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const date = Date.parse(text)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

const describe = (request: HttpRequest): string => {
  const url = new URL(request.url)
  return `${request.method} ${url.host}${url.pathname}`
}

/** What a failed fetch or body read says, in a few words: `ECONNRESET`, `other side closed`. */
/** What went wrong on the wire, in words a user can act on (the system code kept for searching). */
const NETWORK_REASONS: Record<string, string> = {
  ENOTFOUND: 'the host name does not resolve (offline, or a typo in the registry host?)',
  EAI_AGAIN: 'DNS did not answer (offline?)',
  ECONNREFUSED: 'the connection was refused (nothing listens there; plain-HTTP registries go in LAYERLEAK_INSECURE_REGISTRIES)',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable (offline?)',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate cannot be verified',
}

const networkReason = (error: unknown): string => {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause
  const code = cause?.code
  if (code && NETWORK_REASONS[code]) return `${NETWORK_REASONS[code]} [${code}]`
  return code ?? cause?.message ?? (error as Error)?.message ?? String(error)
}

/** DNS says the host does not exist: retrying cannot help. */
const isPermanentNetworkError = (error: unknown): boolean => (error as { cause?: { code?: string } })?.cause?.code === 'ENOTFOUND'

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal))
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(aborted(signal as AbortSignal))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })

const aborted = (signal: AbortSignal): LayerleakError =>
  signal.reason instanceof LayerleakError ? signal.reason : new LayerleakError('ABORTED', 'the operation was aborted', { cause: signal.reason })

const withoutAuthorization = (headers: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'authorization'))

/**
 * Reads a body up to `maxBytes` (0: no cap). Past the cap it stops reading and either throws the
 * given error (a limit) or keeps what it has (`truncate`, for error bodies read only for messages).
 */
const readCapped = async (body: ReadableStream<Uint8Array> | null, maxBytes: number, over: LayerleakError | 'truncate'): Promise<Uint8Array> => {
  if (!body) return new Uint8Array()
  const chunks: Uint8Array[] = []
  let total = 0
  const reader = body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    if (maxBytes > 0 && total + value.byteLength > maxBytes) {
      await reader.cancel().catch(() => {})
      if (over !== 'truncate') throw over
      chunks.push(value.subarray(0, maxBytes - total))
      total = maxBytes
      break
    }
    chunks.push(value)
    total += value.byteLength
  }
  const bytes = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}

export const createHttp = (options: HttpOptions): Http => {
  const log = options.logger ?? (() => {})
  /** One try: follows redirects, dropping Authorization whenever the origin is not the one asked. */
  const fetchFollowing = async (request: HttpRequest, signal: AbortSignal): Promise<{ response: Response; url: string }> => {
    const origin = new URL(request.url).origin
    const headers = { 'user-agent': options.userAgent, ...request.headers }
    let url = request.url
    let method = request.method
    let body = request.body
    for (let hops = 0; ; hops++) {
      const sameOrigin = new URL(url).origin === origin
      const response = await options.fetch(url, { method, headers: sameOrigin ? headers : withoutAuthorization(headers), body, redirect: 'manual', signal })
      const location = response.headers.get('location')
      if (!REDIRECTS.has(response.status) || !location) return { response, url }
      await response.body?.cancel().catch(() => {})
      if (hops === MAX_REDIRECTS) throw new LayerleakError('REGISTRY_ERROR', `${describe(request)}: more than ${MAX_REDIRECTS} redirects`)
      const next = new URL(location, url)
      if (new URL(url).protocol === 'https:' && next.protocol !== 'https:') {
        throw new LayerleakError('REGISTRY_ERROR', `${describe(request)}: refusing a redirect from https to ${next.protocol}//${next.host}`)
      }
      if (next.origin !== origin) log(`${describe(request)}: redirected to ${next.host}, without credentials`)
      url = next.href
      if (response.status === 303 && method === 'POST') {
        method = 'GET'
        body = undefined
      }
    }
  }

  /** A streamed body with an idle timeout that runs only while the reader waits for the network. */
  const idleTimedBody = (body: ReadableStream<Uint8Array>, request: HttpRequest, controller: AbortController, userSignal?: AbortSignal) => {
    const reader = body.getReader()
    let timer: ReturnType<typeof setTimeout> | undefined
    const idle = new LayerleakError('TIMEOUT', `${describe(request)}: no data for ${options.blobIdleTimeoutMs / 1000}s while reading the body`)
    return new ReadableStream<Uint8Array>({
      async pull(stream) {
        timer = setTimeout(() => controller.abort(idle), options.blobIdleTimeoutMs)
        try {
          const { done, value } = await reader.read()
          if (done) stream.close()
          else stream.enqueue(value)
        } catch (error) {
          if (userSignal?.aborted) stream.error(aborted(userSignal))
          else if (controller.signal.aborted) stream.error(aborted(controller.signal))
          else stream.error(new LayerleakError('NETWORK_ERROR', `${describe(request)}: the connection failed while reading the body (${networkReason(error)})`, { cause: error }))
        } finally {
          clearTimeout(timer)
        }
      },
      cancel(reason) {
        clearTimeout(timer)
        return reader.cancel(reason).finally(() => controller.abort())
      },
    })
  }

  const attempt = async (request: HttpRequest, read: ReadOptions, tries: number): Promise<HttpResponse> => {
    const controller = new AbortController()
    const timeout = new LayerleakError('TIMEOUT', `${describe(request)}: no complete answer within ${options.timeoutMs / 1000}s`)
    const timer = setTimeout(() => controller.abort(timeout), options.timeoutMs)
    const signal = request.signal ? AbortSignal.any([request.signal, controller.signal]) : controller.signal
    let handedOff = false
    try {
      const { response, url } = await fetchFollowing(request, signal)
      const answer = { status: response.status, headers: response.headers, url, bytes: new Uint8Array(), attempts: tries }
      const ok = response.status >= 200 && response.status < 300
      // an error body only feeds the message: a failure while reading it must not hide the status
      if (!ok) return { ...answer, bytes: await readCapped(response.body, MAX_ERROR_BODY, 'truncate').catch(() => new Uint8Array()) }
      if (read.stream && response.body) {
        clearTimeout(timer)
        handedOff = true
        return { ...answer, body: idleTimedBody(response.body, request, controller, request.signal) }
      }
      const cap = read.maxBytes ?? 0
      const over = new LayerleakError('LIMIT_EXCEEDED', `${describe(request)}: the response is larger than ${read.limitName ?? 'the limit'} (${cap} bytes)`, {
        details: { limit: read.limitName, maxBytes: cap },
      })
      if (cap > 0 && Number(response.headers.get('content-length')) > cap) {
        await response.body?.cancel().catch(() => {})
        throw over
      }
      return { ...answer, bytes: await readCapped(response.body, cap, over) }
    } catch (error) {
      if (request.signal?.aborted) throw aborted(request.signal)
      if (controller.signal.aborted) throw aborted(controller.signal)
      if (error instanceof LayerleakError) throw error
      throw new LayerleakError('NETWORK_ERROR', `${describe(request)}: ${networkReason(error)}`, { cause: error, details: { permanent: isPermanentNetworkError(error) } })
    } finally {
      // a streamed body owns the controller from here on (its idle timer aborts it)
      if (!handedOff) clearTimeout(timer)
    }
  }

  const backoff = (tries: number): number => {
    const ceiling = Math.min(options.maxRetryDelayMs, options.retryBaseDelayMs * 2 ** (tries - 1))
    return ceiling / 2 + Math.random() * (ceiling / 2)
  }

  return {
    async send(request, read = {}) {
      for (let tries = 1; ; tries++) {
        let response: HttpResponse
        try {
          response = await attempt(request, read, tries)
          options.onResponse?.(request, response.status, response.headers)
        } catch (error) {
          const failure = error as LayerleakError
          const retryable = (failure.code === 'NETWORK_ERROR' && !failure.details.permanent) || (failure.code === 'TIMEOUT' && !request.signal?.aborted)
          if (!retryable) throw failure
          if (tries >= options.attempts) {
            throw new LayerleakError(failure.code, `${failure.message} (${tries} ${tries === 1 ? 'attempt' : 'attempts'})`, { cause: failure.cause ?? failure, details: { attempts: tries } })
          }
          const wait = backoff(tries)
          log(`${failure.message}; retrying in ${Math.round(wait)}ms (attempt ${tries + 1} of ${options.attempts})`)
          await sleep(wait, request.signal)
          continue
        }
        if (!isRetryableStatus(response.status) || tries >= options.attempts) return response
        const retryAfter = parseRetryAfter(response.headers.get('retry-after'))
        // a server asking for a longer pause than we are willing to wait gets its answer now
        if (retryAfter !== undefined && retryAfter > options.maxRetryDelayMs) return response
        const wait = retryAfter ?? backoff(tries)
        log(`${describe(request)} -> ${response.status}; retrying in ${Math.round(wait)}ms (attempt ${tries + 1} of ${options.attempts})`)
        await sleep(wait, request.signal)
      }
    },
  }
}
