/**
 * What the pipeline remembers of the layers it read, for a LayerCache (a database) to hand back in
 * later runs so they are not downloaded again: the changeset of every layer read to its end without
 * a hitch, and the matches of those that had any, redacted (core/findings.ts rememberMatch), with
 * the filters' verdicts. Those verdicts and fingerprints hold for one set of filters and one
 * fingerprint key only: the filter signature names them, and a scan with another reads the layer
 * again.
 */
import { createHash } from 'node:crypto'
import type { Filter, LayerRecord, RememberedMatch } from './contracts.ts'
import { LayerChanges } from './filesystem-index.ts'
import { rememberMatch } from './findings.ts'
import type { LayerScanOutcome } from './layer-scanner.ts'

/** A layer handed back by the cache with its matches: each carries its redacted self, never a value. */
export interface RememberedOutcome extends Omit<LayerScanOutcome, 'matches'> {
  matches: RememberedMatch[]
}

export interface SignatureInput {
  filters: readonly Filter[]
  persistRawSecrets: boolean
  fingerprintKey?: string
  /** layerleak's version: a release may change built-in rules that no cache key names */
  scannerVersion: string
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

/**
 * What the verdicts and fingerprints of remembered matches depend on, as one hash; undefined when
 * layers with matches must not be remembered at all: a filter without a cacheKey (its verdicts
 * could change unseen), or raw values wanted (the cache never holds them). The fingerprint key
 * goes in hashed, never as it is.
 */
export const filterSignatureOf = (input: SignatureInput): string | undefined => {
  if (input.persistRawSecrets) return undefined
  const keys = input.filters.map((filter) => filter.cacheKey)
  if (keys.some((key) => typeof key !== 'string' || key === '')) return undefined
  return sha256(JSON.stringify({ filters: keys, fingerprintKey: input.fingerprintKey ? sha256(input.fingerprintKey) : '', scanner: input.scannerVersion }))
}

/** Read to its end, nothing odd inside: what it found (or not) holds for the next scan with the same catalog. */
export const isRememberable = (outcome: LayerScanOutcome): boolean => !outcome.error && !outcome.limitHit && outcome.diagnostics.length === 0

/** The record of a layer just read: its matches remembered only when there are any. */
export const layerRecordOf = (outcome: LayerScanOutcome, filters: readonly Filter[], fingerprintKey?: string): LayerRecord => ({
  digest: outcome.digest,
  files: outcome.files,
  bytes: outcome.bytes,
  ...outcome.changes.toRecord(),
  ...(outcome.matches.length > 0 ? { matches: outcome.matches.map((match) => rememberMatch(filters, match, fingerprintKey)) } : {}),
})

/** A remembered layer as the pipeline reads outcomes: a clean one is a LayerScanOutcome without matches. */
export const outcomeOfRecord = (record: LayerRecord): RememberedOutcome => ({
  digest: record.digest,
  changes: LayerChanges.fromRecord(record),
  matches: record.matches ?? [],
  files: record.files,
  bytes: record.bytes,
  diagnostics: [],
})
