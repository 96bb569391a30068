/**
 * The Postgres sink: each result becomes one append-only scan_runs row (a redacted snapshot) and
 * upserts into the current state (repositories, manifests, tags, layers, findings, occurrences).
 * Re-scans move last_seen_at and recount, never duplicate. Each table's rows go in one upsert per
 * 10,000 rows, their columns as arrays (unnest-rows.ts): a 5,000-finding result is a dozen
 * statements. Each target is one transaction, so a write that fails half-way leaves the targets
 * stored so far and a scan_run that says `partial` (or `failed`). Where the time goes, and what
 * was tried: bench/README.md.
 */
import { type Kysely, type RawBuilder, sql, type Transaction } from 'kysely'
import type { Sink, SinkReceipt } from '../../core/contracts.ts'
import { LayerleakError } from '../../core/errors.ts'
import type { ScanEvent } from '../../core/events.ts'
import type { Finding, Occurrence, ScanResult } from '../../core/result.ts'
import { type DatabaseOptions, type LayerleakDatabase, openDatabase } from './database.ts'
import type { DatabaseSchema } from './database-schema.ts'
import { type ManifestRow, occurrenceIdentityKey, planWrite, redactedResult, type WriteGroup } from './scan-result-rows.ts'
import { type ArrayColumns, arrayParameter, batches, insertUnnested, unnestRows } from './unnest-rows.ts'

type Db = Kysely<DatabaseSchema>
type Trx = Transaction<DatabaseSchema>

/** deadlock, serialization failure: another writer of the same rows got there first; try again */
const RETRYABLE = new Set(['40P01', '40001'])

const toDate = (text: string | undefined, fallback: Date): Date => {
  const date = text ? new Date(text) : fallback
  return Number.isNaN(date.getTime()) ? fallback : date
}
const toIso = (text: string | undefined, fallback: Date): string => toDate(text, fallback).toISOString()

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

const inTransaction = async <T>(db: Db, work: (trx: Trx) => Promise<T>): Promise<T> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(work)
    } catch (error) {
      const code = (error as { code?: unknown }).code
      if (attempt >= 5 || typeof code !== 'string' || !RETRYABLE.has(code)) throw error
      await new Promise((resolve) => setTimeout(resolve, 10 * attempt + Math.random() * 20))
    }
  }
}

/** `excluded.column` when the incoming row is at least as recent as the stored one: writes may land out of order */
const latest = (table: string, column: string) =>
  sql`${sql.ref(column)} = case when excluded.last_seen_at >= ${sql.ref(`${table}.last_seen_at`)} then ${sql.ref(`excluded.${column}`)} else ${sql.ref(`${table}.${column}`)} end`
/** `column = coalesce(excluded.column, table.column)`: what the incoming row does not know never erases what is stored */
const known = (table: string, column: string) => sql`${sql.ref(column)} = coalesce(${sql.ref(`excluded.${column}`)}, ${sql.ref(`${table}.${column}`)})`
const seenSpan = (table: string) =>
  sql`first_seen_at = least(${sql.ref(`${table}.first_seen_at`)}, excluded.first_seen_at), last_seen_at = greatest(${sql.ref(`${table}.last_seen_at`)}, excluded.last_seen_at)`
const updates = (...assignments: RawBuilder<unknown>[]) => sql.join(assignments)

export interface ScannedLayer {
  digest: string
  size?: number
  mediaType?: string
}

export interface PersistOptions {
  /** layers read to the end without error: marked scanned with the result's detector catalog version */
  scannedLayers?: ScannedLayer[]
}

interface GroupContext {
  repositoryId: number | null
  seenAt: Date
}

interface SpanRow {
  first_seen_at: string
  last_seen_at: string
}

interface OccurrenceRow extends SpanRow {
  finding_id: number
  identity_key: string
  occurrence: Occurrence
}

interface FindingRow extends SpanRow {
  finding: Finding
  /** the finding's occurrences, one per identity */
  occurrences: Map<string, Occurrence>
  actionable: number
}

const MANIFEST_COLUMNS: ArrayColumns<ManifestRow & SpanRow> = {
  digest: ['text', (row) => row.digest],
  media_type: ['text', (row) => row.media_type],
  platform: ['text', (row) => row.platform],
  config_digest: ['text', (row) => row.config_digest],
  first_seen_at: ['timestamptz', (row) => row.first_seen_at],
  last_seen_at: ['timestamptz', (row) => row.last_seen_at],
}

const findingColumns = (repositoryId: number | null): ArrayColumns<FindingRow> => ({
  repository_id: ['bigint', () => repositoryId],
  manifest_digest: ['text', (row) => row.finding.manifest_digest],
  fingerprint: ['text', (row) => row.finding.fingerprint],
  detector_name: ['text', (row) => row.finding.detector_name],
  confidence: ['text', (row) => row.finding.confidence],
  disposition: ['text', (row) => row.finding.disposition],
  disposition_reason: ['text', (row) => row.finding.disposition_reason ?? ''],
  redacted_value: ['text', (row) => row.finding.redacted_value],
  raw_value: ['text', (row) => row.finding.value ?? null],
  // a new finding is counted here, from its own occurrences; a stored one is recounted after
  occurrence_count: ['integer', (row) => row.occurrences.size],
  actionable_occurrence_count: ['integer', (row) => row.actionable],
  suppressed_occurrence_count: ['integer', (row) => row.occurrences.size - row.actionable],
  first_seen_at: ['timestamptz', (row) => row.first_seen_at],
  last_seen_at: ['timestamptz', (row) => row.last_seen_at],
})

const OCCURRENCE_COLUMNS: ArrayColumns<OccurrenceRow> = {
  finding_id: ['bigint', (row) => row.finding_id],
  identity_key: ['text', (row) => row.identity_key],
  detector_name: ['text', (row) => row.occurrence.detector_name],
  confidence: ['text', (row) => row.occurrence.confidence],
  disposition: ['text', (row) => row.occurrence.disposition],
  disposition_reason: ['text', (row) => row.occurrence.disposition_reason ?? ''],
  source_type: ['text', (row) => row.occurrence.source_type],
  platform: ['text', (row) => row.occurrence.platform ?? ''],
  file_path: ['text', (row) => row.occurrence.file_path ?? ''],
  layer_digest: ['text', (row) => row.occurrence.layer_digest ?? ''],
  layer_index: ['integer', (row) => row.occurrence.layer_index ?? -1],
  build_step: ['text', (row) => row.occurrence.build_step ?? ''],
  key: ['text', (row) => row.occurrence.key ?? ''],
  line_number: ['integer', (row) => row.occurrence.line_number ?? 0],
  match_start: ['bigint', (row) => row.occurrence.match_start ?? 0],
  match_end: ['bigint', (row) => row.occurrence.match_end ?? 0],
  source_location: ['text', (row) => row.occurrence.source_location ?? ''],
  context_snippet: ['text', (row) => row.occurrence.context_snippet ?? ''],
  present_in_final_image: ['boolean', (row) => row.occurrence.present_in_final_image],
  raw_value: ['text', (row) => row.occurrence.value ?? null],
  raw_context_snippet: ['text', (row) => row.occurrence.raw_context_snippet ?? null],
  first_seen_at: ['timestamptz', (row) => row.first_seen_at],
  last_seen_at: ['timestamptz', (row) => row.last_seen_at],
}

/** the columns a re-scan may change (the rest make the occurrence's identity) */
const OCCURRENCE_UPDATES = [
  'detector_name',
  'confidence',
  'disposition',
  'disposition_reason',
  'layer_index',
  'build_step',
  'match_end',
  'source_location',
  'context_snippet',
  'present_in_final_image',
] as const

const findingKey = (manifestDigest: string, fingerprint: string) => `${manifestDigest}\u0000${fingerprint}`

const findingRows = (findings: Finding[], seenAt: Date): FindingRow[] => {
  // a result's findings share a handful of timestamps: parse each once
  const times = new Map<string | undefined, string>()
  const iso = (text: string | undefined) => {
    let time = times.get(text)
    if (time === undefined) times.set(text, (time = toIso(text, seenAt)))
    return time
  }
  return findings.map((finding) => {
    const occurrences = new Map<string, Occurrence>()
    for (const occurrence of finding.occurrences) occurrences.set(occurrenceIdentityKey(occurrence), occurrence)
    let actionable = 0
    for (const occurrence of occurrences.values()) if (occurrence.disposition === 'actionable') actionable++
    return { finding, occurrences, actionable, first_seen_at: iso(finding.first_seen_at), last_seen_at: iso(finding.last_seen_at) }
  })
}

const writeGroup = async (trx: Trx, group: WriteGroup, context: GroupContext): Promise<void> => {
  const { repositoryId, seenAt } = context
  const span: SpanRow = { first_seen_at: seenAt.toISOString(), last_seen_at: seenAt.toISOString() }
  if (group.manifests.length > 0) {
    await sql`${insertUnnested('manifests', group.manifests.map((row) => ({ ...row, ...span })), MANIFEST_COLUMNS)}
      on conflict (digest) do update set ${updates(known('manifests', 'media_type'), known('manifests', 'platform'), known('manifests', 'config_digest'), seenSpan('manifests'))}`.execute(trx)
  }
  if (repositoryId !== null && group.manifests.length > 0) {
    await sql`${insertUnnested('repository_manifests', group.manifests, {
      repository_id: ['bigint', () => repositoryId],
      manifest_digest: ['text', (row) => row.digest],
      first_seen_at: ['timestamptz', () => span.first_seen_at],
      last_seen_at: ['timestamptz', () => span.last_seen_at],
    })}
      on conflict (repository_id, manifest_digest) do update set ${seenSpan('repository_manifests')}`.execute(trx)
  }
  if (repositoryId !== null && group.tags.length > 0) {
    await sql`${insertUnnested('tags', group.tags, {
      repository_id: ['bigint', () => repositoryId],
      tag: ['text', (row) => row.tag],
      digest: ['text', (row) => row.digest],
      first_seen_at: ['timestamptz', () => span.first_seen_at],
      last_seen_at: ['timestamptz', () => span.last_seen_at],
    })}
      on conflict (repository_id, tag, digest) do update set ${seenSpan('tags')}`.execute(trx)
  }
  if (group.layerDigests.length > 0) {
    await sql`insert into layers (digest) select * from unnest(${arrayParameter(group.layerDigests, 'text')}) on conflict (digest) do nothing`.execute(trx)
  }

  const findings = findingRows(group.findings, seenAt)
  const findingIds = new Map<string, number>()
  const columns = findingColumns(repositoryId)
  for (const rows of batches(findings)) {
    const { rows: stored } = await sql<{ id: number; manifest_digest: string; fingerprint: string }>`${insertUnnested('findings', rows, columns)}
      on conflict (manifest_digest, fingerprint) do update set ${updates(
        latest('findings', 'detector_name'),
        latest('findings', 'confidence'),
        latest('findings', 'disposition'),
        latest('findings', 'disposition_reason'),
        latest('findings', 'redacted_value'),
        // a writer without raw values never erases what a raw-values writer stored
        known('findings', 'raw_value'),
        sql`repository_id = coalesce(findings.repository_id, excluded.repository_id)`,
        seenSpan('findings'),
      )}
      returning id, manifest_digest, fingerprint`.execute(trx)
    for (const row of stored) findingIds.set(findingKey(row.manifest_digest, row.fingerprint), row.id)
  }

  const occurrences: OccurrenceRow[] = []
  for (const row of findings) {
    const findingId = findingIds.get(findingKey(row.finding.manifest_digest, row.finding.fingerprint))
    if (findingId === undefined) throw new LayerleakError('INTERNAL', `finding ${row.finding.fingerprint} was not returned by its upsert`)
    for (const [identityKey, occurrence] of row.occurrences) {
      occurrences.push({ finding_id: findingId, identity_key: identityKey, occurrence, first_seen_at: row.first_seen_at, last_seen_at: row.last_seen_at })
    }
  }
  occurrences.sort((a, b) => a.finding_id - b.finding_id || (a.identity_key < b.identity_key ? -1 : 1))
  // a stored occurrence that would not change is left alone: storing the same result twice writes
  // no row version of it, and a re-scan one that only moves the seen span
  const changed = (column: string) => sql`${sql.ref(`finding_occurrences.${column}`)} is distinct from ${sql.ref(`excluded.${column}`)}`
  const occurrenceChanges = sql.join(
    [
      sql`excluded.first_seen_at < finding_occurrences.first_seen_at`,
      sql`excluded.last_seen_at > finding_occurrences.last_seen_at`,
      sql`(excluded.last_seen_at >= finding_occurrences.last_seen_at and (${sql.join(OCCURRENCE_UPDATES.map(changed), sql` or `)}))`,
      sql`(excluded.raw_value is not null and ${changed('raw_value')})`,
      sql`(excluded.raw_context_snippet is not null and ${changed('raw_context_snippet')})`,
    ],
    sql` or `,
  )
  for (const rows of batches(occurrences)) {
    await sql`${insertUnnested('finding_occurrences', rows, OCCURRENCE_COLUMNS)}
      on conflict (finding_id, identity_key) do update set ${updates(
        ...OCCURRENCE_UPDATES.map((column) => latest('finding_occurrences', column)),
        known('finding_occurrences', 'raw_value'),
        known('finding_occurrences', 'raw_context_snippet'),
        seenSpan('finding_occurrences'),
      )}
      where ${occurrenceChanges}`.execute(trx)
  }

  // counts follow the stored occurrences, so a finding and its occurrence list always agree
  const ids = [...new Set(findingIds.values())].sort((a, b) => a - b)
  for (const batch of batches(ids)) {
    await sql`
      update findings set
        occurrence_count = counted.total,
        actionable_occurrence_count = counted.actionable,
        suppressed_occurrence_count = counted.total - counted.actionable
      from (
        select finding_id, count(*)::int as total, (count(*) filter (where disposition = 'actionable'))::int as actionable
        from finding_occurrences where finding_id = any(${arrayParameter(batch, 'bigint')}) group by finding_id
      ) as counted
      where findings.id = counted.finding_id
        and (findings.occurrence_count, findings.actionable_occurrence_count) is distinct from (counted.total, counted.actionable)`.execute(trx)
  }
}

const LAYER_COLUMNS: ArrayColumns<ScannedLayer> = {
  digest: ['text', (layer) => layer.digest],
  size: ['bigint', (layer) => layer.size ?? null],
  media_type: ['text', (layer) => layer.mediaType ?? null],
}

const writeScannedLayers = async (trx: Trx, layers: ScannedLayer[], scannedAt: Date, catalogVersion: string): Promise<void> => {
  const unique = [...new Map(layers.filter((layer) => layer.digest).map((layer) => [layer.digest, layer])).values()].sort((a, b) => (a.digest < b.digest ? -1 : 1))
  for (const rows of batches(unique)) {
    await sql`insert into layers (digest, size, media_type, scanned_at, detector_catalog_version)
      select u.digest, u.size, u.media_type, cast(${scannedAt.toISOString()} as timestamptz), cast(${catalogVersion} as text)
      from (${unnestRows(rows, LAYER_COLUMNS)}) as u (digest, size, media_type)
      on conflict (digest) do update set
        size = coalesce(excluded.size, layers.size),
        media_type = coalesce(excluded.media_type, layers.media_type),
        detector_catalog_version = case when layers.scanned_at is null or excluded.scanned_at >= layers.scanned_at then excluded.detector_catalog_version else layers.detector_catalog_version end,
        scanned_at = greatest(layers.scanned_at, excluded.scanned_at)`.execute(trx)
  }
}

/**
 * Stores one result: a scan_runs row first (so even a failed write leaves a trace), then each
 * target in its own transaction, then the layers read in full. Throws DATABASE_ERROR when a target
 * could not be stored, after marking the scan_run partial (some targets stored) or failed (none).
 */
export const persistScanResult = async (db: Db, result: ScanResult, options: PersistOptions = {}): Promise<{ scanRunId: number }> => {
  const plan = planWrite(result)
  const scannedAt = toDate(result.scanned_at, new Date())
  const finishedAt = toDate(result.finished_at, scannedAt)
  let opened: { repositoryId: number | null; scanRunId: number }
  try {
    opened = await inTransaction(db, async (trx) => {
      let repositoryId: number | null = null
      if (plan.repository) {
        const row = await trx
          .insertInto('repositories')
          .values({ ...plan.repository, first_seen_at: scannedAt, last_scanned_at: scannedAt })
          .onConflict((conflict) =>
            conflict.columns(['registry', 'name']).doUpdateSet({
              first_seen_at: sql`least(repositories.first_seen_at, excluded.first_seen_at)`,
              last_scanned_at: sql`greatest(repositories.last_scanned_at, excluded.last_scanned_at)`,
            }),
          )
          .returning('id')
          .executeTakeFirstOrThrow()
        repositoryId = row.id
      }
      const run = await trx
        .insertInto('scan_runs')
        .values({
          repository_id: repositoryId,
          registry: result.registry ?? '',
          repository: plan.repository?.name ?? result.repository ?? '',
          requested_reference: result.requested_reference,
          resolved_reference: result.resolved_reference ?? '',
          mode: result.mode,
          status: result.status,
          started_at: scannedAt,
          finished_at: finishedAt,
          duration_ms: result.duration_ms ?? null,
          scanner_version: result.scanner?.version ?? '',
          detector_catalog_version: result.scanner?.detector_catalog_version ?? '',
          target_count: result.target_count,
          manifest_count: result.manifest_count,
          total_findings: result.total_findings,
          unique_fingerprints: result.unique_fingerprints,
          suppressed_findings_count: result.suppressed_findings_count,
          layers_scanned: result.coverage?.layers_scanned ?? 0,
          layers_failed: result.coverage?.layers_failed ?? 0,
          result_schema_version: result.result_schema_version,
          // JSON text cast in SQL: both drivers would otherwise re-encode a string parameter as a JSON string
          result_json: sql`cast(${JSON.stringify(redactedResult(result))} as text)::json`,
        })
        .returning('id')
        .executeTakeFirstOrThrow()
      return { repositoryId, scanRunId: run.id }
    })
  } catch (cause) {
    throw new LayerleakError('DATABASE_ERROR', `cannot record the scan of ${result.requested_reference}: ${messageOf(cause)}`, { cause })
  }

  const { repositoryId, scanRunId } = opened
  let stored = 0
  let current = 'the scanned layers'
  try {
    for (const group of plan.groups) {
      current = group.label
      await inTransaction(db, (trx) => writeGroup(trx, group, { repositoryId, seenAt: scannedAt }))
      stored++
    }
    current = 'the scanned layers'
    const layers = options.scannedLayers ?? []
    if (layers.length > 0) await inTransaction(db, (trx) => writeScannedLayers(trx, layers, finishedAt, result.scanner?.detector_catalog_version ?? ''))
    await db.updateTable('scan_runs').set({ storage_status: 'complete' }).where('id', '=', scanRunId).execute()
  } catch (cause) {
    const storage = stored === 0 && plan.groups.length > 0 ? 'failed' : 'partial'
    const status = storage === 'failed' ? 'failed' : result.status === 'completed' ? 'partial' : result.status
    await db
      .updateTable('scan_runs')
      .set({ storage_status: storage, status, storage_error: messageOf(cause) })
      .where('id', '=', scanRunId)
      .execute()
      .catch(() => {})
    throw new LayerleakError('DATABASE_ERROR', `scan run ${scanRunId}: storing ${current} failed (${stored} of ${plan.groups.length} targets stored): ${messageOf(cause)}`, {
      cause,
      details: { scanRunId, storedTargets: stored },
    })
  }
  return { scanRunId }
}

export interface PostgresSinkOptions extends DatabaseOptions {
  /** an open database to write to (the HTTP server shares one); the sink then never closes it */
  database?: LayerleakDatabase
}

export interface PostgresSink extends Sink {
  /** Opens (and checks or migrates) the database now rather than at the first write: fail before a long scan, not after. */
  open(): Promise<LayerleakDatabase>
  /** Feed it the scan's events: layers read to the end are recorded as scanned with the result's detector catalog. */
  onEvent(event: ScanEvent): void
  write(result: ScanResult): Promise<SinkReceipt & { scanRunId: number; location: string }>
  close(): Promise<void>
}

export const postgresSink = (options: PostgresSinkOptions = {}): PostgresSink => {
  let opening: Promise<LayerleakDatabase> | undefined
  const open = () => (opening ??= options.database ? Promise.resolve(options.database) : openDatabase(options))
  // digest -> what the events told about the layer; consumed by the next write
  const layers = new Map<string, { size?: number; done: boolean; failed: boolean }>()
  return {
    name: 'postgres',
    open,
    onEvent(event) {
      if (event.type === 'layer-start') layers.set(event.digest, { size: event.size, done: false, failed: false })
      else if (event.type === 'layer-done') {
        const known = layers.get(event.digest)
        layers.set(event.digest, { size: known?.size, done: true, failed: Boolean(event.error) })
      }
    },
    async write(result) {
      const database = await open()
      // a layer cut short by a limit or an error is not "scanned": it must be read again next time
      const incomplete = new Set(result.diagnostics.filter((diagnostic) => diagnostic.scope === 'layer').map((diagnostic) => diagnostic.subject))
      const scannedLayers: ScannedLayer[] = []
      for (const [digest, state] of layers) {
        if (!state.done) continue
        layers.delete(digest)
        if (!state.failed && !incomplete.has(digest)) scannedLayers.push({ digest, size: state.size })
      }
      const { scanRunId } = await persistScanResult(database.db, result, { scannedLayers })
      return { scanRunId, location: `scan_run ${scanRunId} (${database.location})` }
    },
    async close() {
      const pending = opening
      opening = undefined
      if (!pending || options.database) return
      const database = await pending.catch(() => undefined)
      await database?.close()
    },
  }
}
