/**
 * What differs per runtime, behind one small interface. Only this folder knows which runtime it
 * is on; everything else asks for an adapter.
 */
export type RuntimeName = 'node' | 'bun' | 'deno'

export interface ServeOptions {
  fetch: (request: Request) => Response | Promise<Response>
  hostname: string
  port: number
}

export interface RunningServer {
  /** the address actually bound (port 0 picks one) */
  hostname: string
  port: number
  close(): Promise<void>
}

export interface RuntimeAdapter {
  name: RuntimeName
  /** the HTTP client registry traffic goes through (undici on Node, the built-in fetch elsewhere) */
  fetch: typeof fetch
  serve(options: ServeOptions): Promise<RunningServer>
}

export const detectRuntime = (): RuntimeName => {
  const global = globalThis as { Bun?: unknown; Deno?: unknown }
  if (global.Bun) return 'bun'
  if (global.Deno) return 'deno'
  return 'node'
}

/** Loads the adapter for the running runtime; the others are never imported. */
export const loadAdapter = async (name: RuntimeName = detectRuntime()): Promise<RuntimeAdapter> => {
  if (name === 'bun') return (await import('./bun.ts')).bunAdapter()
  if (name === 'deno') return (await import('./deno.ts')).denoAdapter()
  return (await import('./node.ts')).nodeAdapter()
}
