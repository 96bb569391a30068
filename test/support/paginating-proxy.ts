/**
 * Debian's docker-registry (distribution 2.8) answers `tags/list` whole, unsorted, whatever `?n=`
 * says, and without a Link header. Registries people sweep (Docker Hub, GHCR, distribution 3) page
 * it: this proxy makes the test registry do the same for `tags/list` and `_catalog`, as
 * distribution 3 does: entries sorted, `?n=` honoured, `&last=` to resume after an entry, and a
 * relative RFC 8288 Link (`</v2/<name>/tags/list?last=x&n=40>; rel="next"`) while more remain.
 * Everything else passes through untouched.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface PaginatingProxy {
  /** `127.0.0.1:PORT`: use it as the registry host of references (or put another proxy in front) */
  host: string
  close(): Promise<void>
}

const LISTING = /^\/v2\/(?:(.+)\/tags\/list|_catalog)$/

const pipeThrough = (req: IncomingMessage, res: ServerResponse, upstreamHost: string) => {
  const [hostname, port] = upstreamHost.split(':')
  const upstream = httpRequest({ hostname, port: Number(port), method: req.method, path: req.url, headers: { ...req.headers, host: upstreamHost } }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers)
    answer.pipe(res)
  })
  upstream.on('error', () => res.destroy())
  req.pipe(upstream)
}

const fetchWhole = (path: string, headers: IncomingMessage['headers'], upstreamHost: string): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> =>
  new Promise((resolve, reject) => {
    const [hostname, port] = upstreamHost.split(':')
    const upstream = httpRequest({ hostname, port: Number(port), method: 'GET', path, headers: { ...headers, host: upstreamHost } }, (answer) => {
      const chunks: Buffer[] = []
      answer.on('data', (chunk: Buffer) => chunks.push(chunk))
      answer.on('end', () => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }))
      answer.on('error', reject)
    })
    upstream.on('error', reject)
    upstream.end()
  })

export const startPaginatingProxy = async (upstreamHost: string): Promise<PaginatingProxy> => {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://proxy')
    const match = LISTING.exec(url.pathname)
    if (req.method !== 'GET' || !match) return pipeThrough(req, res, upstreamHost)
    const field = match[1] === undefined ? 'repositories' : 'tags'
    // the catalog does page upstream (at most 1000 a page): read all of it, then page it here
    let path: string | undefined = field === 'tags' ? url.pathname : `${url.pathname}?n=1000`
    let document: Record<string, unknown> = {}
    const all: string[] = []
    while (path) {
      const whole = await fetchWhole(path, req.headers, upstreamHost)
      if (whole.status !== 200) {
        res.writeHead(whole.status, { 'content-type': String(whole.headers['content-type'] ?? 'application/json') })
        return res.end(whole.body)
      }
      document = JSON.parse(whole.body.toString('utf8')) as Record<string, unknown>
      all.push(...((document[field] as string[] | null) ?? []))
      path = /<([^>]+)>;\s*rel="next"/.exec(String(whole.headers.link ?? ''))?.[1]
    }
    const entries = all.sort()
    const last = url.searchParams.get('last')
    const n = url.searchParams.has('n') ? Number(url.searchParams.get('n')) : entries.length
    const rest = last === null ? entries : entries.filter((entry) => entry > last)
    const page = rest.slice(0, n)
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (page.length > 0 && rest.length > page.length) {
      headers.link = `<${url.pathname}?last=${encodeURIComponent(page[page.length - 1])}&n=${n}>; rel="next"`
    }
    res.writeHead(200, headers)
    res.end(JSON.stringify({ ...document, [field]: page }))
  }
  const server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
