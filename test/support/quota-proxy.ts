/**
 * A proxy in front of the test registry that keeps Docker Hub's pull accounting: every manifest
 * GET spends one pull from a quota, HEADs are free, every manifest answer carries
 * `RateLimit-Limit: 100;w=21600` and `RateLimit-Remaining: N;w=21600`, and a GET with no quota left
 * gets Hub's 429 TOOMANYREQUESTS. It can answer manifests slowly, and it records when each request
 * started and ended and how many manifest requests were in flight at most, so tests can see pacing.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface LoggedRequest {
  method: string
  path: string
  /** ms (performance.now() of this process) */
  start: number
  end: number
  status: number
}

export interface QuotaProxy {
  host: string
  log: LoggedRequest[]
  /** the most manifest requests in flight at once since the last reset */
  maxInFlight(): number
  /** pulls left; a manifest GET spends one */
  remaining(): number
  setQuota(quota: { limit: number; remaining: number; windowSeconds?: number }): void
  /** manifest answers wait this long (default 0) */
  setLatency(ms: number): void
  reset(): void
  close(): Promise<void>
}

const MANIFEST = /^\/v2\/.+\/manifests\/[^/]+$/

export const startQuotaProxy = async (upstreamHost: string): Promise<QuotaProxy> => {
  const [upstreamName, upstreamPort] = upstreamHost.split(':')
  let limit = 100
  let remaining = 100
  let windowSeconds = 21_600
  let latency = 0
  let inFlight = 0
  let maxInFlight = 0
  const log: LoggedRequest[] = []

  const quotaHeaders = () => ({
    'ratelimit-limit': `${limit};w=${windowSeconds}`,
    'ratelimit-remaining': `${Math.max(remaining, 0)};w=${windowSeconds}`,
    'docker-ratelimit-source': '127.0.0.1',
  })

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const entry: LoggedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', start: performance.now(), end: 0, status: 0 }
    log.push(entry)
    const manifest = MANIFEST.test((req.url ?? '').split('?')[0])
    const done = (status: number) => {
      entry.status = status
      entry.end = performance.now()
      if (manifest) inFlight--
    }
    if (manifest) maxInFlight = Math.max(maxInFlight, ++inFlight)
    if (manifest && req.method === 'GET') {
      if (remaining <= 0) {
        res.writeHead(429, { 'content-type': 'application/json', ...quotaHeaders() })
        res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}')
        return done(429)
      }
      remaining--
    }
    if (manifest && latency > 0) await new Promise((resolve) => setTimeout(resolve, latency))
    const headers = { ...req.headers, host: upstreamHost }
    const upstream = httpRequest({ host: upstreamName, port: Number(upstreamPort), method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, { ...answer.headers, ...(manifest ? quotaHeaders() : {}) })
      answer.pipe(res)
      answer.on('end', () => done(answer.statusCode ?? 502))
    })
    upstream.on('error', () => {
      done(502)
      res.destroy()
    })
    req.pipe(upstream)
  }

  const server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    maxInFlight: () => maxInFlight,
    remaining: () => remaining,
    setQuota(quota) {
      limit = quota.limit
      remaining = quota.remaining
      windowSeconds = quota.windowSeconds ?? 21_600
    },
    setLatency(ms) {
      latency = ms
    },
    reset() {
      log.length = 0
      maxInFlight = 0
      latency = 0
      limit = 100
      remaining = 100
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
