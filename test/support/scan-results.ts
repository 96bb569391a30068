/**
 * Realistic ScanResults built by hand, for the storage tests and benchmarks: what the scanner would
 * report for an image whose layers hold a few leaked keys, with digests, fingerprints and redaction
 * computed the way the pipeline computes them.
 */
import { createHash } from 'node:crypto'
import { fingerprintOf, redactValue } from '../../core/redact.ts'
import {
  type Finding,
  type Occurrence,
  type PlatformResult,
  RESULT_SCHEMA_VERSION,
  type ScanResult,
  type ScanStatus,
  type TargetResult,
} from '../../core/result.ts'

export const digestOf = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`

export interface ResultSpec {
  registry?: string
  /** repository path: `acme/api` */
  name: string
  tag?: string
  /** the image's identity: the same seed gives the same digests (the same image scanned again) */
  image?: string
  platforms?: string[]
  /** actionable findings per platform manifest */
  actionable?: number
  /** suppressed findings (test fixtures) per platform manifest */
  suppressed?: number
  occurrencesPerFinding?: number
  scannedAt?: string
  /** carry raw values, as with LAYERLEAK_PERSIST_RAW_SECRETS=1 */
  raw?: boolean
  status?: ScanStatus
  detectorCatalogVersion?: string
}

/** A 40-character secret unique to (image, index): AWS-secret-shaped, so redaction keeps no prefix worth having */
const secretValue = (image: string, kind: string, index: number): string => createHash('sha256').update(`${image}/${kind}/${index}`).digest('base64').replace(/[^A-Za-z0-9]/g, 'x').slice(0, 40)

const layerDigestsOf = (image: string, platform: string): string[] => [0, 1, 2].map((index) => digestOf(`${image}/${platform}/layer/${index}`))

const makeFinding = (spec: Required<Pick<ResultSpec, 'occurrencesPerFinding' | 'raw'>>, image: string, platform: string, manifestDigest: string, kind: 'actionable' | 'suppressed', index: number, seenAt: string): Finding => {
  const value = secretValue(image, kind, index)
  const layers = layerDigestsOf(image, platform)
  const detector = index % 2 === 0 ? 'aws-secret-access-key' : 'generic-api-key'
  const reason = kind === 'suppressed' ? 'path looks like a test fixture' : ''
  const occurrences: Occurrence[] = Array.from({ length: spec.occurrencesPerFinding }, (_, n) => {
    const layerIndex = n % layers.length
    const filePath = kind === 'suppressed' ? `app/test/fixtures/creds-${index}.env` : n === 0 ? `etc/app/config-${index}.env` : `srv/app/.env.${index}.${n}`
    const line = `AWS_SECRET_ACCESS_KEY=${value}`
    const occurrence: Occurrence = {
      detector_name: detector,
      confidence: 'high',
      disposition: kind,
      disposition_reason: reason,
      source_type: n === 1 ? 'file_deleted_layer' : 'file_final',
      platform,
      file_path: filePath,
      layer_digest: layers[layerIndex],
      layer_index: layerIndex,
      build_step: `COPY ${filePath} /${filePath} # buildkit`,
      key: 'AWS_SECRET_ACCESS_KEY',
      line_number: 3 + n,
      match_start: 120 + 22 + n * 64,
      match_end: 120 + 22 + n * 64 + value.length,
      source_location: `layer ${layerIndex} (${layers[layerIndex].slice(7, 19)}) /${filePath}:${3 + n}`,
      context_snippet: `AWS_SECRET_ACCESS_KEY=${redactValue(value)}`,
      present_in_final_image: n !== 1,
    }
    if (spec.raw) {
      occurrence.value = value
      occurrence.raw_context_snippet = line
    }
    return occurrence
  })
  const actionableCount = occurrences.filter((occurrence) => occurrence.disposition === 'actionable').length
  const finding: Finding = {
    detector_name: detector,
    confidence: 'high',
    disposition: kind,
    disposition_reason: reason,
    manifest_digest: manifestDigest,
    fingerprint: fingerprintOf(value),
    redacted_value: redactValue(value),
    occurrence_count: occurrences.length,
    actionable_occurrence_count: actionableCount,
    suppressed_occurrence_count: occurrences.length - actionableCount,
    first_seen_at: seenAt,
    last_seen_at: seenAt,
    occurrences,
  }
  if (spec.raw) finding.value = value
  return finding
}

export const buildScanResult = (spec: ResultSpec): ScanResult => {
  const registry = spec.registry ?? 'registry.test'
  const tag = spec.tag ?? 'latest'
  const image = spec.image ?? `${registry}/${spec.name}`
  const platforms = spec.platforms ?? ['linux/amd64']
  const scannedAt = spec.scannedAt ?? '2026-01-01T12:00:00.000Z'
  const options = { occurrencesPerFinding: spec.occurrencesPerFinding ?? 2, raw: spec.raw ?? false }
  const multi = platforms.length > 1
  const indexDigest = digestOf(`${image}/index`)
  const findings: Finding[] = []
  const suppressed: Finding[] = []
  const platformResults: PlatformResult[] = platforms.map((platform) => {
    const manifestDigest = multi ? digestOf(`${image}/${platform}/manifest`) : indexDigest
    const own = Array.from({ length: spec.actionable ?? 2 }, (_, i) => makeFinding(options, image, platform, manifestDigest, 'actionable', i, scannedAt))
    const fixtures = Array.from({ length: spec.suppressed ?? 1 }, (_, i) => makeFinding(options, image, platform, manifestDigest, 'suppressed', i, scannedAt))
    findings.push(...own)
    suppressed.push(...fixtures)
    return {
      platform,
      manifest_digest: manifestDigest,
      config_digest: digestOf(`${image}/${platform}/config`),
      status: 'completed',
      layer_count: 3,
      layers_scanned: 3,
      files_scanned: 1200,
      bytes_scanned: 48_000_000,
      findings: own.length,
      suppressed_findings: fixtures.length,
    }
  })
  const target: TargetResult = {
    reference: `${registry}/${spec.name}:${tag}`,
    digest: indexDigest,
    media_type: multi ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json',
    tags: [tag],
    status: 'completed',
    platform_results: platformResults,
  }
  const finished = new Date(new Date(scannedAt).getTime() + 4_200).toISOString()
  return {
    result_schema_version: RESULT_SCHEMA_VERSION,
    requested_reference: `${registry}/${spec.name}:${tag}`,
    repository: `${registry}/${spec.name}`,
    registry,
    mode: 'reference',
    resolved_reference: `${registry}/${spec.name}@${indexDigest}`,
    status: spec.status ?? 'completed',
    scanned_at: scannedAt,
    finished_at: finished,
    duration_ms: 4_200,
    scanner: { name: 'layerleak', version: '0.1.0', detector_catalog_version: spec.detectorCatalogVersion ?? 'catalog-1' },
    target_count: 1,
    manifest_count: platforms.length,
    total_findings: findings.length,
    unique_fingerprints: new Set(findings.map((finding) => finding.fingerprint)).size,
    suppressed_findings_count: suppressed.length,
    targets: [target],
    tag_results: [],
    coverage: {
      layers_total: 3 * platforms.length,
      layers_scanned: 3 * platforms.length,
      layers_failed: 0,
      layers_cached: 0,
      files_scanned: 1200 * platforms.length,
      files_skipped: 0,
      bytes_scanned: 48_000_000 * platforms.length,
      limits_hit: [],
    },
    diagnostics: [],
    findings,
    suppressed_findings: suppressed,
  }
}

/** The same image scanned again later: same digests and secrets, later timestamps. */
export const rescanned = (result: ScanResult, scannedAt: string): ScanResult => {
  const copy = structuredClone(result)
  copy.scanned_at = scannedAt
  copy.finished_at = new Date(new Date(scannedAt).getTime() + copy.duration_ms).toISOString()
  for (const finding of [...copy.findings, ...copy.suppressed_findings]) {
    finding.first_seen_at = scannedAt
    finding.last_seen_at = scannedAt
  }
  return copy
}
