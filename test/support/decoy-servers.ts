/**
 * Small HTTP servers that play a misbehaving registry for the API's security specs:
 * - a redirector on 127.0.0.1 that answers every request with a 307 to another address (a
 *   loopback address nobody allowlisted, the cloud metadata address);
 * - a trap on 127.0.0.2 that records whatever reaches it (nothing should);
 * - a registry that holds every request until released, to keep scans running on demand.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

const listen = (server: Server, host: string): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port))
  })

const close = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })

export interface Trap {
  /** `127.0.0.2:PORT` */
  host: string
  requests: string[]
  close(): Promise<void>
}

/** Answers like an open registry, and remembers every request: a request here is an SSRF that got through. */
export const startTrap = async (): Promise<Trap> => {
  const requests: string[] = []
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`)
    res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' }).end('{}')
  })
  const port = await listen(server, '127.0.0.2')
  return { host: `127.0.0.2:${port}`, requests, close: () => close(server) }
}

export interface Redirector {
  /** `127.0.0.1:PORT` */
  host: string
  requests: string[]
  close(): Promise<void>
}

/** 307 to `target(path)` for every request: the path says where (`/v2/to-trap/…`, `/v2/to-metadata/…`). */
export const startRedirector = async (target: (path: string) => string): Promise<Redirector> => {
  const requests: string[] = []
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`)
    res.writeHead(307, { location: target(req.url ?? '/') }).end()
  })
  const port = await listen(server, '127.0.0.1')
  return { host: `127.0.0.1:${port}`, requests, close: () => close(server) }
}

export interface HoldingRegistry {
  /** `127.0.0.1:PORT` */
  host: string
  /** requests waiting for release */
  held(): number
  /** answers every held request (and every later one) with 404 */
  release(): void
  close(): Promise<void>
}

export const startHoldingRegistry = async (): Promise<HoldingRegistry> => {
  const waiting: ServerResponse[] = []
  let released = false
  const answer = (res: ServerResponse) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"released"}]}')
  const server = createServer((_req: IncomingMessage, res) => {
    if (released) answer(res)
    else waiting.push(res)
  })
  const port = await listen(server, '127.0.0.1')
  return {
    host: `127.0.0.1:${port}`,
    held: () => waiting.length,
    release() {
      released = true
      for (const res of waiting.splice(0)) answer(res)
    },
    close: () => close(server),
  }
}
