/**
 * The Postgres sink: each result becomes one append-only scan_runs row (a redacted snapshot) and
 * upserts into the current state (repositories, manifests, tags, layers, findings, occurrences).
 * Re-scans move last_seen_at and recount, never duplicate. Rows go in multi-row upserts, chunked
 * under the protocol's parameter limit; each target is one transaction, so a write that fails
 * half-way leaves the targets stored so far and a scan_run that says `partial` (or `failed`).
 */
import { type Kysely, sql, type Transaction } from 'kysely'
import type { Sink, SinkReceipt } from '../../core/contracts.ts'
import { LayerleakError } from '../../core/errors.ts'
import type { ScanEvent } from '../../core/events.ts'
import type { Finding, Occurrence, ScanResult } from '../../core/result.ts'
import { type DatabaseOptions, type LayerleakDatabase, openDatabase } from './database.ts'
import type { DatabaseSchema } from './database-schema.ts'
import { occurrenceIdentityKey, planWrite, redactedResult, type WriteGroup } from './scan-result-rows.ts'

type Db = Kysely<DatabaseSchema>
type Trx = Transaction<DatabaseSchema>

/** A statement may carry 65,535 parameters; staying well under keeps statements quick to plan too. */
const MAX_PARAMETERS = 30_000
/** deadlock, serialization failure: another writer of the same rows got there first; try again */
const RETRYABLE = new Set(['40P01', '40001'])

const chunks = <T>(rows: T[], columns: number): T[][] => {
  const size = Math.max(1, Math.floor(MAX_PARAMETERS / columns))
  const out: T[][] = []
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size))
  return out
}

const toDate = (text: string | undefined, fallback: Date): Date => {
  const date = text ? new Date(text) : fallback
  return Number.isNaN(date.getTime()) ? fallback : date
}

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
const latest = <T = string>(table: string, column: string) =>
  sql<T>`case when excluded.last_seen_at >= ${sql.ref(`${table}.last_seen_at`)} then ${sql.ref(`excluded.${column}`)} else ${sql.ref(`${table}.${column}`)} end`
const seenSpan = (table: string) => ({
  first_seen_at: sql<Date>`least(${sql.ref(`${table}.first_seen_at`)}, excluded.first_seen_at)`,
  last_seen_at: sql<Date>`greatest(${sql.ref(`${table}.last_seen_at`)}, excluded.last_seen_at)`,
})

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

const occurrenceRow = (findingId: number, finding: Finding, occurrence: Occurrence, seenAt: Date) => ({
  finding_id: findingId,
  identity_key: occurrenceIdentityKey(occurrence),
  detector_name: occurrence.detector_name,
  confidence: occurrence.confidence,
  disposition: occurrence.disposition,
  disposition_reason: occurrence.disposition_reason ?? '',
  source_type: occurrence.source_type,
  platform: occurrence.platform ?? '',
  file_path: occurrence.file_path ?? '',
  layer_digest: occurrence.layer_digest ?? '',
  layer_index: occurrence.layer_index ?? -1,
  build_step: occurrence.build_step ?? '',
  key: occurrence.key ?? '',
  line_number: occurrence.line_number ?? 0,
  match_start: occurrence.match_start ?? 0,
  match_end: occurrence.match_end ?? 0,
  source_location: occurrence.source_location ?? '',
  context_snippet: occurrence.context_snippet ?? '',
  present_in_final_image: occurrence.present_in_final_image,
  raw_value: occurrence.value ?? null,
  raw_context_snippet: occurrence.raw_context_snippet ?? null,
  first_seen_at: toDate(finding.first_seen_at, seenAt),
  last_seen_at: toDate(finding.last_seen_at, seenAt),
})

const writeGroup = async (trx: Trx, group: WriteGroup, context: GroupContext): Promise<void> => {
  const { repositoryId, seenAt } = context
  const span = { first_seen_at: seenAt, last_seen_at: seenAt }
  for (const rows of chunks(group.manifests, 6)) {
    await trx
      .insertInto('manifests')
      .values(rows.map((row) => ({ ...row, ...span })))
      .onConflict((conflict) =>
        conflict.column('digest').doUpdateSet({
          media_type: sql`coalesce(excluded.media_type, manifests.media_type)`,
          platform: sql`coalesce(excluded.platform, manifests.platform)`,
          config_digest: sql`coalesce(excluded.config_digest, manifests.config_digest)`,
          ...seenSpan('manifests'),
        }),
      )
      .execute()
  }
  if (repositoryId !== null) {
    for (const rows of chunks(group.manifests, 4)) {
      await trx
        .insertInto('repository_manifests')
        .values(rows.map((row) => ({ repository_id: repositoryId, manifest_digest: row.digest, ...span })))
        .onConflict((conflict) => conflict.columns(['repository_id', 'manifest_digest']).doUpdateSet(seenSpan('repository_manifests')))
        .execute()
    }
    for (const rows of chunks(group.tags, 5)) {
      await trx
        .insertInto('tags')
        .values(rows.map((row) => ({ repository_id: repositoryId, tag: row.tag, digest: row.digest, ...span })))
        .onConflict((conflict) => conflict.columns(['repository_id', 'tag', 'digest']).doUpdateSet(seenSpan('tags')))
        .execute()
    }
  }
  for (const rows of chunks(group.layerDigests, 1)) {
    await trx
      .insertInto('layers')
      .values(rows.map((digest) => ({ digest, size: null, media_type: null, scanned_at: null, detector_catalog_version: null })))
      .onConflict((conflict) => conflict.column('digest').doNothing())
      .execute()
  }

  const findingIds = new Map<string, number>()
  for (const rows of chunks(group.findings, 11)) {
    const stored = await trx
      .insertInto('findings')
      .values(
        rows.map((finding) => ({
          repository_id: repositoryId,
          manifest_digest: finding.manifest_digest,
          fingerprint: finding.fingerprint,
          detector_name: finding.detector_name,
          confidence: finding.confidence,
          disposition: finding.disposition,
          disposition_reason: finding.disposition_reason ?? '',
          redacted_value: finding.redacted_value,
          raw_value: finding.value ?? null,
          first_seen_at: toDate(finding.first_seen_at, seenAt),
          last_seen_at: toDate(finding.last_seen_at, seenAt),
        })),
      )
      .onConflict((conflict) =>
        conflict.columns(['manifest_digest', 'fingerprint']).doUpdateSet({
          detector_name: latest('findings', 'detector_name'),
          confidence: latest('findings', 'confidence'),
          disposition: latest('findings', 'disposition'),
          disposition_reason: latest('findings', 'disposition_reason'),
          redacted_value: latest('findings', 'redacted_value'),
          // a writer without raw values never erases what a raw-values writer stored
          raw_value: sql`coalesce(excluded.raw_value, findings.raw_value)`,
          repository_id: sql`coalesce(findings.repository_id, excluded.repository_id)`,
          ...seenSpan('findings'),
        }),
      )
      .returning(['id', 'manifest_digest', 'fingerprint'])
      .execute()
    for (const row of stored) findingIds.set(`${row.manifest_digest}\u0000${row.fingerprint}`, row.id)
  }

  const occurrences = new Map<string, ReturnType<typeof occurrenceRow>>()
  for (const finding of group.findings) {
    const findingId = findingIds.get(`${finding.manifest_digest}\u0000${finding.fingerprint}`)
    if (findingId === undefined) throw new LayerleakError('INTERNAL', `finding ${finding.fingerprint} was not returned by its upsert`)
    for (const occurrence of finding.occurrences) {
      const row = occurrenceRow(findingId, finding, occurrence, seenAt)
      occurrences.set(`${findingId}\u0000${row.identity_key}`, row)
    }
  }
  const occurrenceRows = [...occurrences.values()].sort((a, b) => a.finding_id - b.finding_id || (a.identity_key < b.identity_key ? -1 : 1))
  for (const rows of chunks(occurrenceRows, 24)) {
    await trx
      .insertInto('finding_occurrences')
      .values(rows)
      .onConflict((conflict) =>
        conflict.columns(['finding_id', 'identity_key']).doUpdateSet({
          detector_name: latest('finding_occurrences', 'detector_name'),
          confidence: latest('finding_occurrences', 'confidence'),
          disposition: latest('finding_occurrences', 'disposition'),
          disposition_reason: latest('finding_occurrences', 'disposition_reason'),
          layer_index: latest<number>('finding_occurrences', 'layer_index'),
          build_step: latest('finding_occurrences', 'build_step'),
          match_end: latest<number>('finding_occurrences', 'match_end'),
          source_location: latest('finding_occurrences', 'source_location'),
          context_snippet: latest('finding_occurrences', 'context_snippet'),
          present_in_final_image: latest<boolean>('finding_occurrences', 'present_in_final_image'),
          raw_value: sql`coalesce(excluded.raw_value, finding_occurrences.raw_value)`,
          raw_context_snippet: sql`coalesce(excluded.raw_context_snippet, finding_occurrences.raw_context_snippet)`,
          ...seenSpan('finding_occurrences'),
        }),
      )
      .execute()
  }

  // counts follow the stored occurrences, so a finding and its occurrence list always agree
  // one array parameter rather than thousands of scalars: far cheaper to parse and plan
  for (const ids of chunks([...new Set(findingIds.values())].sort((a, b) => a - b), 1)) {
    await sql`
      update findings set
        occurrence_count = counted.total,
        actionable_occurrence_count = counted.actionable,
        suppressed_occurrence_count = counted.total - counted.actionable
      from (
        select finding_id, count(*)::int as total, (count(*) filter (where disposition = 'actionable'))::int as actionable
        from finding_occurrences where finding_id = any(cast(${ids} as bigint[])) group by finding_id
      ) as counted
      where findings.id = counted.finding_id
        and (findings.occurrence_count, findings.actionable_occurrence_count) is distinct from (counted.total, counted.actionable)`.execute(trx)
  }
}

const writeScannedLayers = async (trx: Trx, layers: ScannedLayer[], scannedAt: Date, catalogVersion: string): Promise<void> => {
  const unique = [...new Map(layers.filter((layer) => layer.digest).map((layer) => [layer.digest, layer])).values()].sort((a, b) => (a.digest < b.digest ? -1 : 1))
  for (const rows of chunks(unique, 5)) {
    await trx
      .insertInto('layers')
      .values(rows.map((layer) => ({ digest: layer.digest, size: layer.size ?? null, media_type: layer.mediaType ?? null, scanned_at: scannedAt, detector_catalog_version: catalogVersion })))
      .onConflict((conflict) =>
        conflict.column('digest').doUpdateSet({
          size: sql`coalesce(excluded.size, layers.size)`,
          media_type: sql`coalesce(excluded.media_type, layers.media_type)`,
          detector_catalog_version: sql`case when layers.scanned_at is null or excluded.scanned_at >= layers.scanned_at then excluded.detector_catalog_version else layers.detector_catalog_version end`,
          scanned_at: sql`greatest(layers.scanned_at, excluded.scanned_at)`,
        }),
      )
      .execute()
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
          result_json: sql`cast(${JSON.stringify(redactedResult(result))} as text)::jsonb`,
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
