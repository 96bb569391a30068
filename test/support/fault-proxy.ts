/**
 * A small HTTP proxy in front of the test registry that misbehaves on request: status codes (with
 * Retry-After), connection resets, truncated, shortened, corrupted or stalled bodies, slow answers,
 * canned answers, and redirects of blob GETs to a second listener under another host name
 * (`localhost:<other port>` vs `127.0.0.1:<port>`) that records what it was sent. It can also demand
 * credentials like a real registry: Bearer tokens from its own token endpoint (short-lived,
 * counted) or Basic. Every request is recorded so tests can count them.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, request as httpRequest, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RecordedRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
  /** the form of a token POST */
  form?: Record<string, string>
}

export type FaultAction =
  | { status: number; retryAfter?: string; body?: string; headers?: Record<string, string> }
  /** the connection is dropped before any answer */
  | { reset: true }
  /** the full Content-Length is announced, N bytes are sent, then the connection drops */
  | { truncate: number }
  /** a complete, well-formed answer holding only the first N bytes */
  | { shorten: number }
  /** the upstream answer with one byte flipped (same length: only the digest can tell) */
  | { corrupt: true }
  /** wait before answering */
  | { delay: number }
  /** send N bytes of the body, then pause */
  | { stall: { after: number; ms: number } }
  /** 307 to the other listener (another host name and port), or to this one */
  | { redirect: 'other-host' | 'same-host' }
  | { respond: { status: number; headers?: Record<string, string>; body: string | Uint8Array } }

export interface Fault {
  /** any method when absent */
  method?: string
  path: RegExp
  /** how many matching requests it applies to (default 1) */
  times?: number
  action: FaultAction
}

export type AuthMode =
  /**
   * Tokens from `/token`, valid `expiresIn` seconds. With username/password the token endpoint
   * demands them (GET with Basic); with refreshToken it also takes an OAuth2 POST carrying it.
   */
  | {
      type: 'bearer'
      expiresIn?: number
      sendExpiresIn?: boolean
      tokenField?: 'token' | 'access_token'
      username?: string
      password?: string
      refreshToken?: string
    }
  | { type: 'basic'; username: string; password: string }

export interface FaultProxy {
  /** `127.0.0.1:PORT`: use it as the registry host of references */
  host: string
  /** `localhost:PORT` of the second listener, where `redirect: 'other-host'` sends blob GETs */
  otherHost: string
  requests: RecordedRequest[]
  otherRequests: RecordedRequest[]
  tokenRequests: RecordedRequest[]
  inject(...faults: Fault[]): void
  setAuth(mode: AuthMode | undefined): void
  /** invalidates every token issued so far (the registry side of a revocation) */
  revokeTokens(): void
  /** forgets faults, records, tokens and the auth mode */
  reset(): void
  close(): Promise<void>
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade'])
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const record = (req: IncomingMessage): RecordedRequest => ({ method: req.method ?? 'GET', path: req.url ?? '/', headers: { ...req.headers } })

interface Upstream {
  status: number
  headers: Record<string, string | string[]>
  body: Buffer
}

const forwardHeaders = (headers: IncomingHttpHeaders, upstreamHost: string): Record<string, string | string[]> => {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'authorization') continue
    out[name] = value
  }
  out.host = upstreamHost
  return out
}

const responseHeaders = (headers: IncomingHttpHeaders): Record<string, string | string[]> => {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
  return out
}

/** Streams the request to the registry and its answer back. */
const pipeUpstream = (req: IncomingMessage, res: ServerResponse, upstreamHost: string) => {
  const [hostname, port] = upstreamHost.split(':')
  const outgoing = httpRequest({ hostname, port: Number(port), method: req.method, path: req.url, headers: forwardHeaders(req.headers, upstreamHost) }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, responseHeaders(answer.headers))
    answer.pipe(res)
  })
  outgoing.on('error', () => res.destroy())
  req.pipe(outgoing)
}

/** The registry's whole answer, buffered, for the faults that rewrite it. */
const fetchUpstream = (req: IncomingMessage, upstreamHost: string): Promise<Upstream> =>
  new Promise((resolve, reject) => {
    const [hostname, port] = upstreamHost.split(':')
    const outgoing = httpRequest({ hostname, port: Number(port), method: req.method, path: req.url, headers: forwardHeaders(req.headers, upstreamHost) }, (answer) => {
      const chunks: Buffer[] = []
      answer.on('data', (chunk: Buffer) => chunks.push(chunk))
      answer.on('end', () => resolve({ status: answer.statusCode ?? 502, headers: responseHeaders(answer.headers), body: Buffer.concat(chunks) }))
      answer.on('error', reject)
    })
    outgoing.on('error', reject)
    req.pipe(outgoing)
  })

const listen = (server: Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))

export const startFaultProxy = async (upstreamHost: string): Promise<FaultProxy> => {
  let faults: (Fault & { left: number })[] = []
  let auth: AuthMode | undefined
  let tokens = new Map<string, number>()
  let issued = 0
  const requests: RecordedRequest[] = []
  const otherRequests: RecordedRequest[] = []
  const tokenRequests: RecordedRequest[] = []

  const other = createServer((req, res) => {
    otherRequests.push(record(req))
    pipeUpstream(req, res, upstreamHost)
  })
  const otherPort = await listen(other)

  const basicOf = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`

  const serveToken = async (req: IncomingMessage, res: ServerResponse, mode: Extract<AuthMode, { type: 'bearer' }>) => {
    const recorded = record(req)
    tokenRequests.push(recorded)
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
    if (req.method === 'POST') recorded.form = Object.fromEntries(form)
    const refreshed = req.method === 'POST' && form.get('grant_type') === 'refresh_token' && form.get('refresh_token') === mode.refreshToken
    if (!refreshed && mode.username !== undefined && req.headers.authorization !== basicOf(mode.username, mode.password ?? '')) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fault-proxy token endpoint"', 'content-type': 'application/json' })
      return res.end('{"details":"incorrect username or password"}')
    }
    const token = `token-${++issued}`
    const expiresIn = mode.expiresIn ?? 300
    tokens.set(token, Date.now() + expiresIn * 1000)
    const body: Record<string, unknown> = { [mode.tokenField ?? 'token']: token }
    if (mode.sendExpiresIn !== false) body.expires_in = expiresIn
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }

  /** true when the request may pass; otherwise a 401 with a challenge has been sent */
  const authorised = (req: IncomingMessage, res: ServerResponse, host: string): boolean => {
    if (!auth || !req.url?.startsWith('/v2/')) return true
    const header = req.headers.authorization ?? ''
    if (auth.type === 'basic') {
      if (header === basicOf(auth.username, auth.password)) return true
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fault-proxy"', 'content-type': 'application/json' })
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
      return false
    }
    const expiry = tokens.get(header.replace(/^Bearer /, ''))
    if (header.startsWith('Bearer ') && expiry !== undefined && expiry > Date.now()) return true
    const repository = /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(req.url)?.[1]
    const scope = repository ? `,scope="repository:${repository}:pull"` : ''
    res.writeHead(401, {
      'www-authenticate': `Bearer realm="http://${host}/token",service="fault-proxy"${scope}${header ? ',error="invalid_token"' : ''}`,
      'content-type': 'application/json',
    })
    res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
    return false
  }

  const takeFault = (req: IncomingMessage): FaultAction | undefined => {
    const fault = faults.find((f) => f.left > 0 && (!f.method || f.method === req.method) && f.path.test(req.url ?? ''))
    if (!fault) return undefined
    fault.left--
    return fault.action
  }

  const applyFault = async (action: FaultAction, req: IncomingMessage, res: ServerResponse) => {
    if ('reset' in action) return req.socket.destroy()
    if ('status' in action) {
      res.writeHead(action.status, { 'content-type': 'application/json', ...(action.retryAfter ? { 'retry-after': action.retryAfter } : {}), ...action.headers })
      return res.end(action.body ?? `{"errors":[{"code":"FAULT","message":"injected ${action.status}"}]}`)
    }
    if ('respond' in action) {
      res.writeHead(action.respond.status, action.respond.headers ?? {})
      return res.end(action.respond.body)
    }
    if ('redirect' in action) {
      const separator = req.url?.includes('?') ? '&' : '?'
      const location = action.redirect === 'other-host' ? `http://localhost:${otherPort}${req.url}` : `${req.url}${separator}redirected=1`
      res.writeHead(307, { location })
      return res.end()
    }
    if ('delay' in action) {
      await sleep(action.delay)
      if (!res.destroyed) pipeUpstream(req, res, upstreamHost)
      return
    }
    const upstream = await fetchUpstream(req, upstreamHost)
    const headers = { ...upstream.headers }
    if ('truncate' in action) {
      res.writeHead(upstream.status, { ...headers, 'content-length': String(upstream.body.byteLength) })
      return res.write(upstream.body.subarray(0, action.truncate), () => res.destroy())
    }
    if ('shorten' in action) {
      res.writeHead(upstream.status, { ...headers, 'content-length': String(Math.min(action.shorten, upstream.body.byteLength)) })
      return res.end(upstream.body.subarray(0, action.shorten))
    }
    if ('corrupt' in action) {
      const body = Buffer.from(upstream.body)
      body[body.byteLength >> 1] ^= 0xff
      res.writeHead(upstream.status, { ...headers, 'content-length': String(body.byteLength) })
      return res.end(body)
    }
    // stall: some bytes, a pause, the rest
    res.writeHead(upstream.status, { ...headers, 'content-length': String(upstream.body.byteLength) })
    res.write(upstream.body.subarray(0, action.stall.after))
    await sleep(action.stall.ms)
    if (!res.destroyed) res.end(upstream.body.subarray(action.stall.after))
  }

  const main = createServer((req, res) => {
    requests.push(record(req))
    const host = `127.0.0.1:${mainPort}`
    if (req.url?.startsWith('/token') && auth?.type === 'bearer') return void serveToken(req, res, auth).catch(() => res.destroy())
    if (!authorised(req, res, host)) return
    const action = takeFault(req)
    if (!action) return pipeUpstream(req, res, upstreamHost)
    applyFault(action, req, res).catch(() => res.destroy())
  })
  const mainPort = await listen(main)

  const close = (server: Server) =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })

  return {
    host: `127.0.0.1:${mainPort}`,
    otherHost: `localhost:${otherPort}`,
    requests,
    otherRequests,
    tokenRequests,
    inject: (...added) => {
      faults.push(...added.map((fault) => ({ ...fault, left: fault.times ?? 1 })))
    },
    setAuth: (mode) => {
      auth = mode
    },
    revokeTokens: () => {
      tokens = new Map()
    },
    reset: () => {
      faults = []
      auth = undefined
      tokens = new Map()
      issued = 0
      for (const list of [requests, otherRequests, tokenRequests]) list.length = 0
    },
    close: async () => {
      await Promise.all([close(main), close(other)])
    },
  }
}
