/**
 * The API never returns a raw secret, whatever a writer persisted (LAYERLEAK_PERSIST_RAW_SECRETS=1
 * stores them) and whatever a query selected: every response body goes through here, and the keys
 * raw values live under are dropped wherever they sit. None of the API's documented shapes uses
 * these names for anything else.
 */
import type { ScanResult } from '../core/result.ts'

const RAW_KEYS = new Set(['value', 'raw_value', 'raw_context_snippet'])

/** A copy of `body` without raw-value keys at any depth. */
export const withoutRawValues = <T>(body: T): T => {
  if (Array.isArray(body)) return body.map(withoutRawValues) as T
  if (body === null || typeof body !== 'object' || body instanceof Date) return body
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(body)) if (!RAW_KEYS.has(key)) out[key] = withoutRawValues(value)
  return out as T
}

export const redactResult = (result: ScanResult): ScanResult => withoutRawValues(result)
