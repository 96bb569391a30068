/**
 * How one ScanResult maps onto the tables, without touching a database: the repository, one write
 * group per target (its manifests, tags, findings), the redacted snapshot for scan_runs. Rows come
 * out deduplicated and sorted by their unique key, so concurrent writers lock rows in the same order
 * and a multi-row upsert never meets the same key twice.
 */
import * as crypto from 'node:crypto'
import type { Finding, Occurrence, ScanResult } from '../../core/result.ts'

export interface ManifestRow {
  digest: string
  media_type: string | null
  platform: string | null
  config_digest: string | null
}

export interface TagRow {
  tag: string
  digest: string
}

/** What one transaction stores: a target (an image, or an index and its platform images). */
export interface WriteGroup {
  /** for messages: the target's reference */
  label: string
  manifests: ManifestRow[]
  tags: TagRow[]
  findings: Finding[]
  /** digests of layers that hold an occurrence */
  layerDigests: string[]
}

export interface WritePlan {
  repository?: { registry: string; name: string }
  groups: WriteGroup[]
}

/** `docker.io/library/alpine` with registry `docker.io` -> `library/alpine` */
export const repositoryName = (result: Pick<ScanResult, 'registry' | 'repository'>): string =>
  result.registry && result.repository.startsWith(`${result.registry}/`) ? result.repository.slice(result.registry.length + 1) : result.repository

/** crypto.hash (one call, no Hash object: ~3x faster on short inputs) where the runtime has it */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'hex') : (text) => crypto.createHash('sha256').update(text).digest('hex')

/** What makes two occurrences of a finding the same place; hashed because a path may exceed what a btree entry can hold. */
export const occurrenceIdentityKey = (occurrence: Occurrence): string =>
  sha256Hex(JSON.stringify([occurrence.layer_digest, occurrence.file_path, occurrence.source_type, occurrence.key, occurrence.line_number, occurrence.match_start, occurrence.platform]))

const withoutRawOccurrence = ({ value: _value, raw_context_snippet: _raw, ...occurrence }: Occurrence): Occurrence => occurrence
const carriesRaw = (occurrence: Occurrence) => 'value' in occurrence || 'raw_context_snippet' in occurrence
// copied only when there is something to strip: results carry no raw values unless told to
const withoutRawFinding = (finding: Finding): Finding => {
  if (!('value' in finding) && !finding.occurrences.some(carriesRaw)) return finding
  const { value: _value, ...rest } = finding
  return { ...rest, occurrences: finding.occurrences.map(withoutRawOccurrence) }
}

/** The result as scan_runs keeps it: no `value`, no `raw_context_snippet`, whatever the writer was told. */
export const redactedResult = (result: ScanResult): ScanResult => ({
  ...result,
  findings: result.findings.map(withoutRawFinding),
  suppressed_findings: result.suppressed_findings.map(withoutRawFinding),
})

const mergeManifest = (into: Map<string, ManifestRow>, row: ManifestRow) => {
  if (!row.digest) return
  const known = into.get(row.digest)
  into.set(row.digest, known ? { digest: row.digest, media_type: known.media_type ?? row.media_type, platform: known.platform ?? row.platform, config_digest: known.config_digest ?? row.config_digest } : row)
}

/** sorted by a string key computed once per item (a comparator building keys would build each one ~log n times) */
const sortedBy = <T>(items: Iterable<T>, key: (item: T) => string): T[] =>
  [...items]
    .map((item) => [key(item), item] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, item]) => item)
const findingKey = (finding: Finding) => `${finding.manifest_digest}\u0000${finding.fingerprint}`

const group = (label: string, manifests: Map<string, ManifestRow>, tags: TagRow[], findings: Finding[]): WriteGroup => {
  const unique = new Map<string, Finding>()
  const manifestDigests = new Set<string>()
  const layerDigests = new Set<string>()
  for (const finding of findings) {
    const key = findingKey(finding)
    const known = unique.get(key)
    // the same finding twice in one result (it should not be): one row, every occurrence
    unique.set(key, known ? { ...known, occurrences: [...known.occurrences, ...finding.occurrences] } : finding)
    manifestDigests.add(finding.manifest_digest)
    for (const occurrence of finding.occurrences) if (occurrence.layer_digest) layerDigests.add(occurrence.layer_digest)
  }
  for (const digest of manifestDigests) mergeManifest(manifests, { digest, media_type: null, platform: null, config_digest: null })
  const tagRows = new Map(tags.filter((tag) => tag.tag && tag.digest).map((tag) => [`${tag.tag}\u0000${tag.digest}`, tag]))
  return {
    label,
    manifests: sortedBy(manifests.values(), (row) => row.digest),
    tags: sortedBy(tagRows.entries(), ([key]) => key).map(([, row]) => row),
    findings: sortedBy(unique.entries(), ([key]) => key).map(([, finding]) => finding),
    layerDigests: [...layerDigests].sort(),
  }
}

export const planWrite = (result: ScanResult): WritePlan => {
  const name = repositoryName(result)
  const pool = new Map<string, Finding[]>()
  for (const finding of [...result.findings, ...result.suppressed_findings]) {
    const same = pool.get(finding.manifest_digest)
    if (same) same.push(finding)
    else pool.set(finding.manifest_digest, [finding])
  }
  const take = (digest: string): Finding[] => {
    const found = pool.get(digest) ?? []
    pool.delete(digest)
    return found
  }
  const groups: WriteGroup[] = []
  for (const target of result.targets) {
    const manifests = new Map<string, ManifestRow>()
    const findings: Finding[] = []
    for (const platform of target.platform_results) {
      mergeManifest(manifests, {
        digest: platform.manifest_digest,
        media_type: platform.manifest_digest === target.digest ? target.media_type || null : null,
        platform: platform.platform || null,
        config_digest: platform.config_digest || null,
      })
      findings.push(...take(platform.manifest_digest))
    }
    // the index (or the manifest itself when the reference named a single-platform image)
    mergeManifest(manifests, { digest: target.digest, media_type: target.media_type || null, platform: null, config_digest: null })
    findings.push(...take(target.digest))
    groups.push(group(target.reference, manifests, target.tags.map((tag) => ({ tag, digest: target.digest })), findings))
  }
  // a sweep's tags, and findings of a manifest no target names (a hand-made result): one last group
  const rest = group(
    'remaining tags and findings',
    new Map(),
    result.tag_results.map((tag) => ({ tag: tag.tag, digest: tag.digest })),
    [...pool.values()].flat(),
  )
  if (rest.tags.length > 0 || rest.findings.length > 0) groups.push(rest)
  return { ...(name ? { repository: { registry: result.registry, name } } : {}), groups }
}
