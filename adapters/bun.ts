import type { RuntimeAdapter } from './runtime.ts'

interface BunServer {
  port: number
  hostname: string
  stop(closeActive?: boolean): Promise<void> | void
}
interface BunGlobal {
  serve(options: { fetch: (request: Request) => Response | Promise<Response>; hostname: string; port: number }): BunServer
}

/** Bun: its own fetch (Bun's `undici` is a shim) and Bun.serve. */
export const bunAdapter = (): RuntimeAdapter => {
  const bun = (globalThis as unknown as { Bun: BunGlobal }).Bun
  return {
    name: 'bun',
    fetch: globalThis.fetch.bind(globalThis),
    serve: async (options) => {
      const server = bun.serve({ fetch: options.fetch, hostname: options.hostname, port: options.port })
      return { hostname: server.hostname, port: server.port, close: async () => void (await server.stop(true)) }
    },
  }
}
