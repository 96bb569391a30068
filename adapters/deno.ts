import type { RuntimeAdapter } from './runtime.ts'

interface DenoServer {
  addr: { hostname: string; port: number }
  shutdown(): Promise<void>
  finished: Promise<void>
}
interface DenoGlobal {
  serve(options: { hostname: string; port: number; onListen?: () => void }, handler: (request: Request) => Response | Promise<Response>): DenoServer
}

/** Deno: its own fetch and Deno.serve; shutdown must be awaited or the process never exits. */
export const denoAdapter = (): RuntimeAdapter => {
  const deno = (globalThis as unknown as { Deno: DenoGlobal }).Deno
  return {
    name: 'deno',
    fetch: globalThis.fetch.bind(globalThis),
    serve: async (options) => {
      const server = deno.serve({ hostname: options.hostname, port: options.port, onListen: () => {} }, options.fetch)
      return { hostname: server.addr.hostname, port: server.addr.port, close: () => server.shutdown() }
    },
  }
}
