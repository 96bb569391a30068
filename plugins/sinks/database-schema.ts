/**
 * The tables of migrations/*.up.sql as kysely sees them. int8 columns come back as numbers (both
 * drivers are told so in database.ts: ids and counters stay far below 2^53), timestamptz as Date.
 */
import type { ColumnType, Generated } from 'kysely'

/** written as a Date or an ISO string, read as a Date */
type Timestamp = ColumnType<Date, Date | string, Date | string>
type TimestampWithDefault = ColumnType<Date, Date | string | undefined, Date | string>
type Identity = ColumnType<number, never, never>

export interface MigrationsTable {
  version: number
  name: string
  checksum: string
  applied_at: TimestampWithDefault
}

export interface RepositoriesTable {
  id: Identity
  registry: string
  name: string
  first_seen_at: TimestampWithDefault
  last_scanned_at: Timestamp | null
}

export interface ManifestsTable {
  digest: string
  media_type: string | null
  platform: string | null
  config_digest: string | null
  first_seen_at: TimestampWithDefault
  last_seen_at: TimestampWithDefault
}

export interface RepositoryManifestsTable {
  repository_id: number
  manifest_digest: string
  first_seen_at: Timestamp
  last_seen_at: Timestamp
}

export interface TagsTable {
  id: Identity
  repository_id: number
  tag: string
  digest: string
  first_seen_at: Timestamp
  last_seen_at: Timestamp
}

export interface LayersTable {
  digest: string
  size: number | null
  media_type: string | null
  first_seen_at: TimestampWithDefault
  scanned_at: Timestamp | null
  detector_catalog_version: string | null
}

export interface FindingsTable {
  id: Identity
  repository_id: number | null
  manifest_digest: string
  fingerprint: string
  detector_name: string
  confidence: string
  disposition: string
  disposition_reason: string
  redacted_value: string
  raw_value: string | null
  occurrence_count: Generated<number>
  actionable_occurrence_count: Generated<number>
  suppressed_occurrence_count: Generated<number>
  first_seen_at: Timestamp
  last_seen_at: Timestamp
}

export interface FindingOccurrencesTable {
  id: Identity
  finding_id: number
  identity_key: string
  detector_name: string
  confidence: string
  disposition: string
  disposition_reason: string
  source_type: string
  platform: string
  file_path: string
  layer_digest: string
  layer_index: number
  build_step: string
  key: string
  line_number: number
  match_start: number
  match_end: number
  source_location: string
  context_snippet: string
  present_in_final_image: boolean
  raw_value: string | null
  raw_context_snippet: string | null
  first_seen_at: Timestamp
  last_seen_at: Timestamp
}

export interface ScanRunsTable {
  id: Identity
  repository_id: number | null
  registry: string
  repository: string
  requested_reference: string
  resolved_reference: string
  mode: string
  status: string
  storage_status: Generated<string>
  storage_error: string | null
  started_at: Timestamp
  finished_at: Timestamp | null
  duration_ms: number | null
  scanner_version: string
  detector_catalog_version: string
  target_count: number
  manifest_count: number
  total_findings: number
  unique_fingerprints: number
  suppressed_findings_count: number
  layers_scanned: number
  layers_failed: number
  result_schema_version: number
  /** json (migration 0004): read as the parsed document; written as JSON text cast to json (see postgres.ts) */
  result_json: ColumnType<unknown, unknown, unknown>
  recorded_at: TimestampWithDefault
}

/** the clean-layer cache (migration 0003, plugins/sinks/layer-cache.ts) */
export interface LayerChangesetsTable {
  layer_digest: string
  detector_catalog_version: string
  files: number
  bytes: number
  path_count: number
  /** json: read as the parsed document; written as JSON text cast to json (see layer-cache.ts) */
  changeset: ColumnType<unknown, unknown, unknown>
  scanned_at: Timestamp
}

/** layers with matches in the layer cache, their matches redacted (migration 0005, plugins/sinks/layer-cache.ts) */
export interface LayerMatchesTable {
  layer_digest: string
  detector_catalog_version: string
  /** what the stored verdicts and fingerprints hold for: the filters' cache keys, the fingerprint key's hash */
  filter_signature: string
  files: number
  bytes: number
  path_count: number
  match_count: number
  /** json, as in layer_changesets */
  changeset: ColumnType<unknown, unknown, unknown>
  /** json: the matches without their values */
  matches: ColumnType<unknown, unknown, unknown>
  scanned_at: Timestamp
}

export interface DatabaseSchema {
  layerleak_migrations: MigrationsTable
  repositories: RepositoriesTable
  manifests: ManifestsTable
  repository_manifests: RepositoryManifestsTable
  tags: TagsTable
  layers: LayersTable
  findings: FindingsTable
  finding_occurrences: FindingOccurrencesTable
  scan_runs: ScanRunsTable
  layer_changesets: LayerChangesetsTable
  layer_matches: LayerMatchesTable
}
