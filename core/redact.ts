/**
 * Redaction and fingerprints. The mask has a fixed length so a redacted value never tells how long
 * the secret is; at most a 3-character prefix survives, and only for values long enough that the
 * prefix gives nothing away (it names the format: `ghp`, `AKI`, `sk_`).
 */
import { createHash, createHmac } from 'node:crypto'

const MASK = '********'
const MIN_LENGTH_FOR_PREFIX = 12

export const redactValue = (value: string): string =>
  value.length < MIN_LENGTH_FOR_PREFIX ? MASK : `${value.slice(0, 3)}${MASK}`

/** sha256 of the raw value, or an HMAC-SHA256 when a key is set (so fingerprints cannot be brute-forced back). */
export const fingerprintOf = (value: string, key?: string): string =>
  key ? createHmac('sha256', key).update(value).digest('hex') : createHash('sha256').update(value).digest('hex')

const SNIPPET_RADIUS = 80

/**
 * The line around a match, at most ~160 characters, with the secret replaced by `replacement`
 * (the redacted value, or the raw value itself for raw snippets).
 */
export const snippetAround = (line: string, start: number, end: number, replacement: string): string => {
  const from = Math.max(0, start - SNIPPET_RADIUS)
  const to = Math.min(line.length, end + SNIPPET_RADIUS)
  const before = line.slice(from, Math.max(from, start))
  const after = line.slice(Math.min(end, line.length), to)
  const text = `${from > 0 ? '…' : ''}${before}${replacement}${after}${to < line.length ? '…' : ''}`
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '�').trim()
}
