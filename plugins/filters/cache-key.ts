/**
 * Cache keys of the built-in filters (Filter.cacheKey): the filter's name and a sha256 over what
 * decides its verdicts, its options and the code of its rules, serialised the same way every
 * time (object keys sorted, regular expressions by source and flags, functions by their text). A
 * change to any of them makes a new key, so layers remembered with the old verdicts are read
 * again. Rules kept in module constants that no function text shows are covered by layerleak's
 * version, which the pipeline adds to the signature.
 */
import { createHash } from 'node:crypto'

export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex')

const canonical = (value: unknown): unknown => {
  if (value === undefined) return null
  if (value instanceof RegExp) return { regexp: value.source, flags: value.flags }
  if (typeof value === 'function') return { code: value.toString() }
  if (value instanceof Map) return { map: [...value].map(canonical) }
  if (value instanceof Set) return { set: [...value].map(canonical) }
  if (Array.isArray(value)) return value.map(canonical)
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>
    return Object.fromEntries(
      Object.keys(object)
        .filter((key) => object[key] !== undefined)
        .sort()
        .map((key) => [key, canonical(object[key])]),
    )
  }
  return value
}

/** `name:<sha256 of the parts>`: the parts are hashed, so a secret among them (an allowlisted value) never shows. */
export const filterCacheKey = (name: string, ...parts: unknown[]): string => `${name}:${sha256Hex(JSON.stringify(canonical(parts)))}`
