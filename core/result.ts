/**
 * The result JSON: stable and versioned. Field names follow the original layerleak (snake_case) so
 * its users can switch. Bump RESULT_SCHEMA_VERSION on any change a consumer could notice.
 */
export const RESULT_SCHEMA_VERSION = 1

export type Confidence = 'low' | 'medium' | 'high'
export type DispositionKind = 'actionable' | 'suppressed'
export type SourceType = 'file_final' | 'file_deleted_layer' | 'env' | 'label' | 'history' | 'config' | 'zombie_layer'
export type ScanStatus = 'completed' | 'partial' | 'failed'
export type ScanMode = 'reference' | 'repository'

export interface Diagnostic {
  /** stable machine code, e.g. `layer_failed`, `limit_exceeded`, `attestation_skipped` */
  code: string
  /** what the diagnostic is about: `scan`, `target`, `layer`, `file`, `tag`, `config` */
  scope: string
  /** the thing itself: a digest, a path, a tag */
  subject: string
  message: string
}

export interface Occurrence {
  detector_name: string
  confidence: Confidence
  disposition: DispositionKind
  disposition_reason: string
  source_type: SourceType
  platform: string
  /** path inside the layer (no leading slash); nested archive members as `outer.jar!inner/path`; empty for config sources */
  file_path: string
  layer_digest: string
  /** 0-based position of the layer in the manifest; -1 for config sources */
  layer_index: number
  /** the history `created_by` of the step that wrote the layer (or the config field's step) */
  build_step: string
  /** env var name, label key, config field or structured-file key the value sat under */
  key: string
  /** 1-based line of the match start; 0 when not line-addressable */
  line_number: number
  /** offsets of the secret from the start of its file (bytes) or config value (characters) */
  match_start: number
  match_end: number
  /** a human-readable address: `layer 2 sha256:ab…/etc/app.env:3`, `env MY_TOKEN` */
  source_location: string
  /** redacted line around the match */
  context_snippet: string
  present_in_final_image: boolean
  /** only for `source_type: 'zombie_layer'`: the tag move that left the layer unreferenced (`layerleak watch`) */
  zombie?: ZombieOrigin
  /** only with LAYERLEAK_PERSIST_RAW_SECRETS=1 */
  value?: string
  raw_context_snippet?: string
}

/** Where a zombie layer came from: the tag that moved off the image holding it. */
export interface ZombieOrigin {
  tag: string
  /** the digest the tag pointed at before (an index or an image manifest) */
  old_manifest_digest: string
  /** the digest it points at now */
  new_manifest_digest: string
  /** when the move was seen (the tag moved at or before this time) */
  moved_at: string
}

export interface Finding {
  detector_name: string
  confidence: Confidence
  disposition: DispositionKind
  disposition_reason: string
  manifest_digest: string
  fingerprint: string
  redacted_value: string
  occurrence_count: number
  actionable_occurrence_count: number
  suppressed_occurrence_count: number
  first_seen_at: string
  last_seen_at: string
  occurrences: Occurrence[]
  /** only with LAYERLEAK_PERSIST_RAW_SECRETS=1 */
  value?: string
}

export interface PlatformResult {
  platform: string
  manifest_digest: string
  config_digest: string
  status: ScanStatus
  layer_count: number
  layers_scanned: number
  files_scanned: number
  bytes_scanned: number
  findings: number
  suppressed_findings: number
  error?: string
}

export interface TargetResult {
  reference: string
  /** the digest the reference resolved to (an index or a manifest) */
  digest: string
  media_type: string
  tags: string[]
  status: ScanStatus
  platform_results: PlatformResult[]
}

export interface TagResult {
  tag: string
  digest: string
  status: ScanStatus
  error?: string
}

export interface Coverage {
  layers_total: number
  layers_scanned: number
  layers_failed: number
  layers_cached: number
  files_scanned: number
  files_skipped: number
  bytes_scanned: number
  limits_hit: string[]
}

export interface ScanResult {
  result_schema_version: number
  requested_reference: string
  repository: string
  registry: string
  mode: ScanMode
  resolved_reference: string
  status: ScanStatus
  scanned_at: string
  finished_at: string
  duration_ms: number
  scanner: { name: string; version: string; detector_catalog_version: string }
  target_count: number
  manifest_count: number
  total_findings: number
  unique_fingerprints: number
  suppressed_findings_count: number
  targets: TargetResult[]
  tag_results: TagResult[]
  coverage: Coverage
  diagnostics: Diagnostic[]
  findings: Finding[]
  suppressed_findings: Finding[]
}
