/**
 * A stand-in for Docker Hub's own API (hub.docker.com), the part a namespace sweep reads:
 * `GET /v2/namespaces/<namespace>/repositories?page_size=N&page=P`, answered as Hub answers it
 * (`{count, next, previous, results: [{name, namespace, repository_type, ...}]}`, `next` an absolute
 * URL or null, 404 with `{"message": ...}` for a namespace that does not exist). The images
 * themselves live in the test registry, reached through LAYERLEAK_REGISTRY_BASE_URL.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface FakeHubRepository {
  name: string
  /** default `image`; Hub also lists plugins */
  repository_type?: string | null
}

export interface FakeHub {
  /** `http://127.0.0.1:PORT`: pass as LAYERLEAK_HUB_API_URL / hubApiUrl */
  url: string
  /** path and query of every request */
  requests: string[]
  /** namespace -> its repositories, editable between tests */
  namespaces: Map<string, FakeHubRepository[]>
  /** the next answer's `next` link, replaced (to test what a client follows) */
  overrideNext(next: string | undefined): void
  close(): Promise<void>
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

export const startFakeHub = async (): Promise<FakeHub> => {
  const namespaces = new Map<string, FakeHubRepository[]>()
  const requests: string[] = []
  let nextOverride: string | undefined
  let url = ''

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    requests.push(req.url ?? '/')
    const address = new URL(req.url ?? '/', url)
    const match = /^\/v2\/namespaces\/([^/]+)\/repositories\/?$/.exec(address.pathname)
    if (req.method !== 'GET' || !match) return json(res, 404, { message: 'page not found' })
    const namespace = decodeURIComponent(match[1])
    const repositories = namespaces.get(namespace)
    if (!repositories) return json(res, 404, { message: `namespace ${namespace} not found`, errinfo: { namespace } })
    const pageSize = Math.min(100, Math.max(1, Number(address.searchParams.get('page_size') ?? 10)))
    const page = Math.max(1, Number(address.searchParams.get('page') ?? 1))
    const slice = repositories.slice((page - 1) * pageSize, page * pageSize)
    const link = (to: number) => `${url}/v2/namespaces/${namespace}/repositories?page=${to}&page_size=${pageSize}`
    const next = nextOverride ?? (page * pageSize < repositories.length ? link(page + 1) : null)
    nextOverride = undefined
    json(res, 200, {
      count: repositories.length,
      next,
      previous: page > 1 ? link(page - 1) : null,
      results: slice.map((repository) => ({
        name: repository.name,
        namespace,
        repository_type: repository.repository_type === undefined ? 'image' : repository.repository_type,
        status: 1,
        is_private: false,
        star_count: 0,
        pull_count: 0,
        last_updated: '2026-01-01T00:00:00.000000Z',
      })),
    })
  }

  const server: Server = createServer(handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    requests,
    namespaces,
    overrideNext(next) {
      nextOverride = next
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
