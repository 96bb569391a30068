/**
 * Politeness towards one registry host: at most N manifest-sized requests in flight (HEADs, manifest
 * GETs, tag and catalog pages; blobs are bounded by the pipeline's layer concurrency instead), a
 * host-wide pause after a 429 so parallel requests do not all run into the same wall, and a slow
 * down when the registry says its quota is nearly spent (`RateLimit-Remaining: 7;w=21600`, Docker
 * Hub's form) instead of spending the rest and failing. Only requests that cost quota are slowed:
 * on Docker Hub that is a manifest GET; HEADs and listings are free and keep their pace.
 */
import { LayerleakError } from '../../core/errors.ts'
import { parseRetryAfter } from './registry-http.ts'

export interface HostPacerOptions {
  /** requests in flight per host (default 4) */
  maxInFlight?: number
  /** at or below this many requests left in the registry's window, slow down (default 10) */
  lowRemaining?: number
  /** pause between quota-costing requests at `lowRemaining` left; it grows as the quota runs out (default 1s) */
  slowDownMs?: number
  /** cap on any one wait (default 30s) */
  maxWaitMs?: number
  logger?: (message: string) => void
}

/** `costly`: spends the registry's quota (a manifest GET on Docker Hub); `free`: does not (HEAD, listings). */
export type RequestCost = 'costly' | 'free'

export interface RateLimitState {
  /** requests left in the registry's window, when it said */
  remaining?: number
  /** the window in seconds (`w=`), when it said */
  windowSeconds?: number
  /** ms since the epoch until which no request starts (after a 429) */
  pausedUntil: number
}

export interface HostPacer {
  /** runs `task` once a slot is free and any pause is over */
  run<T>(host: string, cost: RequestCost, task: () => Promise<T>, signal?: AbortSignal): Promise<T>
  /** what a response says about the host's limits */
  observe(host: string, status: number, headers: Headers): void
  state(host: string): RateLimitState
}

/** `100;w=21600` (Docker Hub), `100`, `100, 50;w=60` (the lowest counts): requests left and the window. */
export const parseRateLimitRemaining = (value: string | null): { remaining: number; windowSeconds?: number } | undefined => {
  if (!value) return undefined
  let best: { remaining: number; windowSeconds?: number } | undefined
  for (const item of value.split(',')) {
    const match = /^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?/i.exec(item)
    if (!match) continue
    const remaining = Number(match[1])
    if (!best || remaining < best.remaining) best = { remaining, ...(match[2] ? { windowSeconds: Number(match[2]) } : {}) }
  }
  return best
}

interface HostState extends RateLimitState {
  active: number
  /** quota-costing requests in flight */
  costlyActive: number
  waiting: (() => void)[]
  /** the earliest start of the next costly request while the quota is low */
  nextCostlyAt: number
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new LayerleakError('ABORTED', 'the operation was aborted', { cause: signal.reason }))
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(new LayerleakError('ABORTED', 'the operation was aborted', { cause: signal?.reason }))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })

export const createHostPacer = (options: HostPacerOptions = {}): HostPacer => {
  const maxInFlight = Math.max(1, options.maxInFlight ?? 4)
  const lowRemaining = Math.max(0, options.lowRemaining ?? 10)
  const slowDownMs = Math.max(0, options.slowDownMs ?? 1000)
  const maxWaitMs = Math.max(0, options.maxWaitMs ?? 30_000)
  const log = options.logger ?? (() => {})
  const hosts = new Map<string, HostState>()
  const stateOf = (host: string): HostState => {
    let state = hosts.get(host)
    if (!state) hosts.set(host, (state = { active: 0, costlyActive: 0, waiting: [], pausedUntil: 0, nextCostlyAt: 0 }))
    return state
  }
  const isLow = (state: HostState) => state.remaining !== undefined && state.remaining <= lowRemaining
  // near the end of the quota one costly request at a time, so the registry's count is read before the next
  const mayStart = (state: HostState, cost: RequestCost) => state.active < maxInFlight && (cost === 'free' || !isLow(state) || state.costlyActive === 0)
  /** spreads what is left: slowDownMs at lowRemaining left, twice that at half, capped */
  const paceOf = (state: HostState) => Math.min(maxWaitMs, (slowDownMs * Math.max(lowRemaining, 1)) / Math.max(state.remaining ?? 1, 1))

  const acquire = async (state: HostState, cost: RequestCost, signal?: AbortSignal): Promise<void> => {
    while (!mayStart(state, cost)) {
      if (signal?.aborted) throw new LayerleakError('ABORTED', 'the operation was aborted', { cause: signal.reason })
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener('abort', wake)
          resolve()
        }
        state.waiting.push(wake)
        signal?.addEventListener('abort', wake, { once: true })
      })
    }
    state.active++
    if (cost === 'costly') state.costlyActive++
  }
  const release = (state: HostState, cost: RequestCost) => {
    state.active--
    if (cost === 'costly') state.costlyActive--
    // wake everyone: the limit may have changed while they waited, each re-checks it
    for (const wake of state.waiting.splice(0)) wake()
  }

  return {
    async run(host, cost, task, signal) {
      const state = stateOf(host)
      await acquire(state, cost, signal)
      try {
        for (;;) {
          const low = cost === 'costly' && isLow(state)
          const until = Math.max(state.pausedUntil, low ? state.nextCostlyAt : 0)
          const wait = until - Date.now()
          if (wait <= 0) break
          await sleep(Math.min(wait, maxWaitMs), signal)
        }
        if (cost === 'costly' && isLow(state)) state.nextCostlyAt = Date.now() + paceOf(state)
        return await task()
      } finally {
        release(state, cost)
      }
    },

    observe(host, status, headers) {
      const state = stateOf(host)
      const quota = parseRateLimitRemaining(headers.get('ratelimit-remaining') ?? headers.get('x-ratelimit-remaining'))
      if (quota) {
        const wasLow = isLow(state)
        state.remaining = quota.remaining
        if (quota.windowSeconds !== undefined) state.windowSeconds = quota.windowSeconds
        if (!wasLow && isLow(state)) log(`${host}: ${quota.remaining} requests left in the registry's rate-limit window; slowing down`)
        // a reset (a new window) lifts the pacing: stale spacing must not linger
        if (!isLow(state)) state.nextCostlyAt = 0
      }
      if (status === 429 || (status === 503 && headers.has('retry-after'))) {
        const wait = Math.min(maxWaitMs, parseRetryAfter(headers.get('retry-after')) ?? Math.max(slowDownMs, 1000))
        const until = Date.now() + wait
        if (until > state.pausedUntil) {
          state.pausedUntil = until
          log(`${host}: answered ${status}; pausing requests to it for ${Math.round(wait)}ms`)
        }
      }
    },

    state(host) {
      const { remaining, windowSeconds, pausedUntil } = stateOf(host)
      return { ...(remaining !== undefined ? { remaining } : {}), ...(windowSeconds !== undefined ? { windowSeconds } : {}), pausedUntil }
    },
  }
}
