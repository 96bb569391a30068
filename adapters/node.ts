import { serve } from '@hono/node-server'
import { Agent, fetch as undiciFetch } from 'undici'
import type { RuntimeAdapter } from './runtime.ts'

/**
 * Node: undici with a keep-alive pool sized for several layers in flight. Timeouts are the
 * registry client's job (it knows which request is a blob), so undici's own are relaxed.
 */
export const nodeAdapter = (): RuntimeAdapter => {
  const dispatcher = new Agent({ connections: 16, keepAliveTimeout: 10_000, headersTimeout: 0, bodyTimeout: 0, connect: { timeout: 30_000 } })
  const fetchWithAgent = ((input: RequestInfo | URL, init?: RequestInit) =>
    undiciFetch(input as Parameters<typeof undiciFetch>[0], { ...(init as object), dispatcher } as Parameters<typeof undiciFetch>[1])) as unknown as typeof fetch
  return {
    name: 'node',
    fetch: fetchWithAgent,
    serve: (options) =>
      new Promise((resolve) => {
        const server = serve({ fetch: options.fetch, hostname: options.hostname, port: options.port }, (info) => {
          resolve({
            hostname: options.hostname,
            port: info.port,
            close: () => new Promise<void>((done) => server.close(() => done())),
          })
        })
      }),
  }
}
