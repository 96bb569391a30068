/**
 * The reads the HTTP API serves: repositories, a repository's scans and findings (paginated,
 * filtered by disposition), one finding with its occurrences, one scan run. Raw values never leave
 * here: no query selects a raw column, and a scan run's stored result is stripped again on the way
 * out. Timestamps come out as ISO strings, ids as numbers, field names as in the result JSON.
 */
import type { Kysely } from 'kysely'
import { LayerleakError } from '../../core/errors.ts'
import type { Confidence, DispositionKind, Occurrence, ScanMode, ScanResult, ScanStatus, SourceType } from '../../core/result.ts'
import type { DatabaseSchema } from './database-schema.ts'
import { redactedResult } from './scan-result-rows.ts'

type Db = Kysely<DatabaseSchema>

export const DEFAULT_PAGE_LIMIT = 50
export const MAX_PAGE_LIMIT = 200
export const DEFAULT_REGISTRY = 'docker.io'

export type DispositionFilter = DispositionKind | 'all'

export interface PageRequest {
  /** 1..200 (larger is clamped to 200); default 50 */
  limit?: number | string
  offset?: number | string
}

export interface Page<T> {
  items: T[]
  /** rows matching, all pages together */
  total: number
  limit: number
  offset: number
}

export interface RepositoryRef {
  /** default `docker.io` */
  registry?: string
  /** `library/alpine`; on docker.io a bare `alpine` means `library/alpine` */
  name: string
}

export interface RepositorySummary {
  id: number
  registry: string
  name: string
  first_seen_at: string
  last_scanned_at: string | null
  scan_count: number
  actionable_findings: number
  suppressed_findings: number
}

export interface ScanRunSummary {
  id: number
  registry: string
  repository: string
  requested_reference: string
  resolved_reference: string
  mode: ScanMode
  status: ScanStatus
  /** writing, complete, partial, failed: how much of the result reached the database */
  storage_status: string
  started_at: string
  finished_at: string | null
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
  recorded_at: string
}

export interface ScanRunDetail extends ScanRunSummary {
  storage_error: string | null
  /** the redacted result JSON of the scan */
  result: ScanResult
}

export interface StoredFinding {
  id: number
  manifest_digest: string
  /** the platform of the manifest (`linux/amd64`), when known */
  platform: string | null
  fingerprint: string
  detector_name: string
  confidence: Confidence
  disposition: DispositionKind
  disposition_reason: string
  redacted_value: string
  occurrence_count: number
  actionable_occurrence_count: number
  suppressed_occurrence_count: number
  first_seen_at: string
  last_seen_at: string
}

export type StoredOccurrence = Omit<Occurrence, 'value' | 'raw_context_snippet'> & { id: number; first_seen_at: string; last_seen_at: string }

export interface FindingDetail extends StoredFinding {
  /** every repository the finding's manifest was seen in */
  repositories: Array<{ registry: string; name: string }>
  occurrences: StoredOccurrence[]
}

const invalid = (message: string) => new LayerleakError('INVALID_ARGUMENT', message)

const wholeNumber = (value: number | string | undefined, name: string): number | undefined => {
  if (value === undefined || value === '') return undefined
  const number = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(number) || number < 0) throw invalid(`${name} must be a whole number, got "${value}"`)
  return number
}

/** limit 1..200 (clamped), default 50; offset >= 0. INVALID_ARGUMENT for anything else. */
export const parsePage = (request: PageRequest = {}): { limit: number; offset: number } => {
  const limit = wholeNumber(request.limit, 'limit') ?? DEFAULT_PAGE_LIMIT
  if (limit < 1) throw invalid('limit must be at least 1')
  return { limit: Math.min(limit, MAX_PAGE_LIMIT), offset: wholeNumber(request.offset, 'offset') ?? 0 }
}

/** `actionable` (the default), `suppressed` or `all` */
export const parseDisposition = (value: string | undefined): DispositionFilter => {
  if (value === undefined || value === '') return 'actionable'
  if (value === 'actionable' || value === 'suppressed' || value === 'all') return value
  throw invalid(`disposition must be actionable, suppressed or all, got "${value}"`)
}

/** A positive id from a path segment or a number. */
export const parseId = (value: number | string, name = 'id'): number => {
  const id = wholeNumber(value, name)
  if (id === undefined || id < 1) throw invalid(`${name} must be a positive whole number, got "${value}"`)
  return id
}

export const normalizeRepositoryRef = (ref: RepositoryRef): { registry: string; name: string } => {
  const registry = ref.registry || DEFAULT_REGISTRY
  const name = ref.name.replace(/^\/+|\/+$/g, '')
  return { registry, name: registry === DEFAULT_REGISTRY && name && !name.includes('/') ? `library/${name}` : name }
}

const iso = (date: Date): string => date.toISOString()
const isoOrNull = (date: Date | null): string | null => (date ? date.toISOString() : null)

const repositorySummaries = (db: Db) =>
  db.selectFrom('repositories as r').select((eb) => [
    'r.id',
    'r.registry',
    'r.name',
    'r.first_seen_at',
    'r.last_scanned_at',
    eb.selectFrom('scan_runs as s').whereRef('s.repository_id', '=', 'r.id').select((sub) => sub.fn.countAll<number>().as('n')).as('scan_count'),
    eb
      .selectFrom('findings as f')
      .innerJoin('repository_manifests as rm', 'rm.manifest_digest', 'f.manifest_digest')
      .whereRef('rm.repository_id', '=', 'r.id')
      .where('f.disposition', '=', 'actionable')
      .select((sub) => sub.fn.countAll<number>().as('n'))
      .as('actionable_findings'),
    eb
      .selectFrom('findings as f')
      .innerJoin('repository_manifests as rm', 'rm.manifest_digest', 'f.manifest_digest')
      .whereRef('rm.repository_id', '=', 'r.id')
      .where('f.disposition', '=', 'suppressed')
      .select((sub) => sub.fn.countAll<number>().as('n'))
      .as('suppressed_findings'),
  ])

type RepositoryRow = Awaited<ReturnType<ReturnType<typeof repositorySummaries>['executeTakeFirstOrThrow']>>

const toRepositorySummary = (row: RepositoryRow): RepositorySummary => ({
  id: row.id,
  registry: row.registry,
  name: row.name,
  first_seen_at: iso(row.first_seen_at),
  last_scanned_at: isoOrNull(row.last_scanned_at),
  scan_count: Number(row.scan_count ?? 0),
  actionable_findings: Number(row.actionable_findings ?? 0),
  suppressed_findings: Number(row.suppressed_findings ?? 0),
})

export const listRepositories = async (db: Db, request: PageRequest = {}): Promise<Page<RepositorySummary>> => {
  const { limit, offset } = parsePage(request)
  const [rows, count] = await Promise.all([
    repositorySummaries(db).orderBy('r.registry').orderBy('r.name').limit(limit).offset(offset).execute(),
    db.selectFrom('repositories').select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
  ])
  return { items: rows.map(toRepositorySummary), total: Number(count.total), limit, offset }
}

/** The repository, or undefined when nothing of it was ever stored. */
export const getRepository = async (db: Db, ref: RepositoryRef): Promise<RepositorySummary | undefined> => {
  const { registry, name } = normalizeRepositoryRef(ref)
  const row = await repositorySummaries(db).where('r.registry', '=', registry).where('r.name', '=', name).executeTakeFirst()
  return row ? toRepositorySummary(row) : undefined
}

const repositoryId = async (db: Db, ref: RepositoryRef): Promise<number | undefined> => {
  const { registry, name } = normalizeRepositoryRef(ref)
  const row = await db.selectFrom('repositories').select('id').where('registry', '=', registry).where('name', '=', name).executeTakeFirst()
  return row?.id
}

const SCAN_RUN_COLUMNS = [
  'id',
  'registry',
  'repository',
  'requested_reference',
  'resolved_reference',
  'mode',
  'status',
  'storage_status',
  'started_at',
  'finished_at',
  'duration_ms',
  'scanner_version',
  'detector_catalog_version',
  'target_count',
  'manifest_count',
  'total_findings',
  'unique_fingerprints',
  'suppressed_findings_count',
  'layers_scanned',
  'layers_failed',
  'recorded_at',
] as const

type ScanRunRow = Awaited<ReturnType<ReturnType<typeof selectScanRuns>['executeTakeFirstOrThrow']>>
const selectScanRuns = (db: Db) => db.selectFrom('scan_runs').select(SCAN_RUN_COLUMNS)

const toScanRunSummary = (row: ScanRunRow): ScanRunSummary => ({
  ...row,
  mode: row.mode as ScanMode,
  status: row.status as ScanStatus,
  started_at: iso(row.started_at),
  finished_at: isoOrNull(row.finished_at),
  recorded_at: iso(row.recorded_at),
})

/** Newest first; undefined when the repository is unknown. */
export const listRepositoryScans = async (db: Db, ref: RepositoryRef, request: PageRequest = {}): Promise<Page<ScanRunSummary> | undefined> => {
  const { limit, offset } = parsePage(request)
  const id = await repositoryId(db, ref)
  if (id === undefined) return undefined
  const [rows, count] = await Promise.all([
    selectScanRuns(db).where('repository_id', '=', id).orderBy('id', 'desc').limit(limit).offset(offset).execute(),
    db.selectFrom('scan_runs').where('repository_id', '=', id).select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
  ])
  return { items: rows.map(toScanRunSummary), total: Number(count.total), limit, offset }
}

export const getScanRun = async (db: Db, id: number | string): Promise<ScanRunDetail | undefined> => {
  const row = await selectScanRuns(db)
    .select(['storage_error', 'result_json'])
    .where('id', '=', parseId(id))
    .executeTakeFirst()
  if (!row) return undefined
  const { result_json, storage_error, ...summary } = row
  // stored redacted; stripped again so no writer, however configured, can leak through here
  return { ...toScanRunSummary(summary), storage_error, result: redactedResult(result_json as ScanResult) }
}

const findingsOfRepository = (db: Db, repository: number, disposition: DispositionFilter) => {
  let query = db
    .selectFrom('findings as f')
    .innerJoin('repository_manifests as rm', 'rm.manifest_digest', 'f.manifest_digest')
    .where('rm.repository_id', '=', repository)
  if (disposition !== 'all') query = query.where('f.disposition', '=', disposition)
  return query
}

/** what every finding read returns: the finding row and the platform of its manifest */
const FINDING_COLUMNS = [
  'f.id',
  'f.manifest_digest',
  'm.platform',
  'f.fingerprint',
  'f.detector_name',
  'f.confidence',
  'f.disposition',
  'f.disposition_reason',
  'f.redacted_value',
  'f.occurrence_count',
  'f.actionable_occurrence_count',
  'f.suppressed_occurrence_count',
  'f.first_seen_at',
  'f.last_seen_at',
] as const

const selectFindings = <Q extends ReturnType<typeof findingsOfRepository>>(query: Q) =>
  query
    .leftJoin('manifests as m', 'm.digest', 'f.manifest_digest')
    .select(FINDING_COLUMNS)

type FindingRow = Awaited<ReturnType<ReturnType<typeof selectFindings>['executeTakeFirstOrThrow']>>

const toStoredFinding = (row: FindingRow): StoredFinding => ({
  ...row,
  platform: row.platform ?? null,
  confidence: row.confidence as Confidence,
  disposition: row.disposition as DispositionKind,
  first_seen_at: iso(row.first_seen_at),
  last_seen_at: iso(row.last_seen_at),
})

/** Most recently seen first; undefined when the repository is unknown. */
export const listRepositoryFindings = async (
  db: Db,
  ref: RepositoryRef,
  request: PageRequest & { disposition?: DispositionFilter | string } = {},
): Promise<Page<StoredFinding> | undefined> => {
  const { limit, offset } = parsePage(request)
  const disposition = parseDisposition(request.disposition)
  const id = await repositoryId(db, ref)
  if (id === undefined) return undefined
  const [rows, count] = await Promise.all([
    selectFindings(findingsOfRepository(db, id, disposition)).orderBy('f.last_seen_at', 'desc').orderBy('f.id', 'desc').limit(limit).offset(offset).execute(),
    findingsOfRepository(db, id, disposition).select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
  ])
  return { items: rows.map(toStoredFinding), total: Number(count.total), limit, offset }
}

/** One finding, every occurrence of it and the repositories it was seen in; undefined when unknown. */
export const getFinding = async (db: Db, id: number | string): Promise<FindingDetail | undefined> => {
  const findingId = parseId(id)
  const row = await db
    .selectFrom('findings as f')
    .leftJoin('manifests as m', 'm.digest', 'f.manifest_digest')
    .select(FINDING_COLUMNS)
    .where('f.id', '=', findingId)
    .executeTakeFirst()
  if (!row) return undefined
  const [repositories, occurrences] = await Promise.all([
    db
      .selectFrom('repository_manifests as rm')
      .innerJoin('repositories as r', 'r.id', 'rm.repository_id')
      .select(['r.registry', 'r.name'])
      .where('rm.manifest_digest', '=', row.manifest_digest)
      .orderBy('r.registry')
      .orderBy('r.name')
      .execute(),
    db
      .selectFrom('finding_occurrences')
      .select([
        'id',
        'detector_name',
        'confidence',
        'disposition',
        'disposition_reason',
        'source_type',
        'platform',
        'file_path',
        'layer_digest',
        'layer_index',
        'build_step',
        'key',
        'line_number',
        'match_start',
        'match_end',
        'source_location',
        'context_snippet',
        'present_in_final_image',
        'first_seen_at',
        'last_seen_at',
      ])
      .where('finding_id', '=', findingId)
      .orderBy('layer_index')
      .orderBy('file_path')
      .orderBy('line_number')
      .orderBy('match_start')
      .orderBy('id')
      .execute(),
  ])
  return {
    ...toStoredFinding(row),
    repositories,
    occurrences: occurrences.map((occurrence) => ({
      ...occurrence,
      confidence: occurrence.confidence as Confidence,
      disposition: occurrence.disposition as DispositionKind,
      source_type: occurrence.source_type as SourceType,
      first_seen_at: iso(occurrence.first_seen_at),
      last_seen_at: iso(occurrence.last_seen_at),
    })),
  }
}

/** The digests among `digests` already read in full with this detector catalog: a scan may skip them. */
export const layersScannedWith = async (db: Db, digests: string[], detectorCatalogVersion: string): Promise<Set<string>> => {
  if (digests.length === 0) return new Set()
  const rows = await db
    .selectFrom('layers')
    .select('digest')
    .where('digest', 'in', digests)
    .where('detector_catalog_version', '=', detectorCatalogVersion)
    .where('scanned_at', 'is not', null)
    .execute()
  return new Set(rows.map((row) => row.digest))
}
