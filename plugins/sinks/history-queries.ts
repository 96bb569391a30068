/**
 * Tag history and zombie layers in the database (migrations/0002_tag_history.up.sql): what
 * `layerleak watch` reads and writes each pass, and what `layerleak history` and the API's
 * `GET /api/v1/repositories/{repository}/history` show. A tag's digests live in `tags` (one row per
 * digest it ever pointed at, first and last seen), its moves in `tag_moves`, the layers each move
 * orphaned in `zombie_layers`. No query here selects a raw secret.
 */
import { type ColumnType, type Kysely, type Selectable, sql } from 'kysely'
import type { Confidence, DispositionKind } from '../../core/result.ts'
import type { RecordedMove, TagMove, TagSighting, ZombieCandidate, ZombieStatus } from '../../core/zombie-layers.ts'
import type { DatabaseSchema } from './database-schema.ts'
import { normalizeRepositoryRef, type PageRequest, parsePage, type RepositoryRef } from './finding-queries.ts'

type Timestamp = ColumnType<Date, Date | string, Date | string>
type Identity = ColumnType<number, never, never>
type WithDefault<T> = ColumnType<T, T | undefined, T>

export interface TagMovesTable {
  id: Identity
  repository_id: number
  tag: string
  old_digest: string
  new_digest: string
  old_last_seen_at: Timestamp | null
  moved_at: Timestamp
  detected_at: Timestamp
  analyzed_at: Timestamp | null
  analysis_attempts: WithDefault<number>
  analysis_note: string | null
}

export interface ZombieLayersTable {
  id: Identity
  repository_id: number
  tag_move_id: number
  layer_digest: string
  media_type: string
  size: number | null
  tag: string
  old_manifest_digest: string
  new_manifest_digest: string
  moved_at: Timestamp
  source_manifest_digest: string
  platform: string
  layer_index: number
  build_step: string
  status: ZombieStatus
  status_detail: string | null
  scan_attempts: WithDefault<number>
  scanned_at: Timestamp | null
  scan_run_id: number | null
  findings: WithDefault<number>
  suppressed_findings: WithDefault<number>
  detected_at: Timestamp
  last_checked_at: Timestamp
  gone_at: Timestamp | null
}

export type HistorySchema = DatabaseSchema & { tag_moves: TagMovesTable; zombie_layers: ZombieLayersTable }
type Db = Kysely<HistorySchema>

/** The same database, with the history tables typed. */
export const historyDb = (db: Kysely<DatabaseSchema>): Db => db.withTables<{ tag_moves: TagMovesTable; zombie_layers: ZombieLayersTable }>()

// ---- what watch writes ----

/** The repository's id, creating its row when it is new (a watched repository may never have been scanned). */
export const ensureRepository = async (db: Db, ref: { registry: string; name: string }): Promise<number> => {
  const row = await db
    .insertInto('repositories')
    .values({ registry: ref.registry, name: ref.name })
    .onConflict((conflict) => conflict.columns(['registry', 'name']).doUpdateSet({ registry: sql`repositories.registry` }))
    .returning('id')
    .executeTakeFirstOrThrow()
  return row.id
}

export interface TagHistory {
  sightings: Map<string, TagSighting[]>
  moves: Map<string, RecordedMove[]>
}

/** Every digest each tag of the repository was seen at, and the moves recorded so far. */
export const readTagHistory = async (db: Db, repositoryId: number): Promise<TagHistory> => {
  const [tags, moves] = await Promise.all([
    db.selectFrom('tags').select(['tag', 'digest', 'first_seen_at', 'last_seen_at']).where('repository_id', '=', repositoryId).execute(),
    db.selectFrom('tag_moves').select(['tag', 'old_digest', 'new_digest', 'detected_at']).where('repository_id', '=', repositoryId).execute(),
  ])
  const history: TagHistory = { sightings: new Map(), moves: new Map() }
  for (const row of tags) {
    const list = history.sightings.get(row.tag) ?? []
    list.push({ digest: row.digest, firstSeenAt: row.first_seen_at, lastSeenAt: row.last_seen_at })
    history.sightings.set(row.tag, list)
  }
  for (const row of moves) {
    const list = history.moves.get(row.tag) ?? []
    list.push({ oldDigest: row.old_digest, newDigest: row.new_digest, detectedAt: row.detected_at })
    history.moves.set(row.tag, list)
  }
  return history
}

/**
 * One pass's sightings and the moves they revealed, in one transaction: a tag seen at a digest
 * again moves that row's last_seen_at; a tag seen at a new digest gets a new row (the history).
 */
export const recordTagPass = async (db: Db, repositoryId: number, sightings: { tag: string; digest: string }[], moves: TagMove[], seenAt: Date): Promise<void> => {
  const rows = [...new Map(sightings.map((row) => [`${row.tag}\u0000${row.digest}`, row])).values()].sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0))
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += 1000) {
      await trx
        .insertInto('tags')
        .values(rows.slice(i, i + 1000).map((row) => ({ repository_id: repositoryId, tag: row.tag, digest: row.digest, first_seen_at: seenAt, last_seen_at: seenAt })))
        .onConflict((conflict) =>
          conflict.columns(['repository_id', 'tag', 'digest']).doUpdateSet({
            first_seen_at: sql`least(tags.first_seen_at, excluded.first_seen_at)`,
            last_seen_at: sql`greatest(tags.last_seen_at, excluded.last_seen_at)`,
          }),
        )
        .execute()
    }
    if (moves.length === 0) return
    await trx
      .insertInto('tag_moves')
      .values(
        moves.map((move) => ({
          repository_id: repositoryId,
          tag: move.tag,
          old_digest: move.oldDigest,
          new_digest: move.newDigest,
          old_last_seen_at: move.oldLastSeenAt,
          moved_at: move.movedAt,
          detected_at: seenAt,
        })),
      )
      .onConflict((conflict) => conflict.constraint('tag_moves_repository_tag_move_key').doNothing())
      .execute()
  })
}

export interface StoredMove {
  id: number
  tag: string
  oldDigest: string
  newDigest: string
  movedAt: Date
  analysisAttempts: number
}

/** Moves whose layers were not compared yet (new ones, and earlier ones a failure interrupted), oldest first. */
export const movesToAnalyze = async (db: Db, repositoryId: number, maxAttempts: number): Promise<StoredMove[]> => {
  const rows = await db
    .selectFrom('tag_moves')
    .select(['id', 'tag', 'old_digest', 'new_digest', 'moved_at', 'analysis_attempts'])
    .where('repository_id', '=', repositoryId)
    .where('analyzed_at', 'is', null)
    .where('analysis_attempts', '<', maxAttempts)
    .orderBy('id')
    .execute()
  return rows.map((row) => ({ id: row.id, tag: row.tag, oldDigest: row.old_digest, newDigest: row.new_digest, movedAt: row.moved_at, analysisAttempts: row.analysis_attempts }))
}

/**
 * A move's analysis, done (its zombie layers recorded, or a note saying why there are none) or
 * failed for now (`done: false`: tried again next pass, up to the caller's attempts).
 */
export const finishMoveAnalysis = async (
  db: Db,
  move: { id: number; tag: string; oldDigest: string; newDigest: string; movedAt: Date },
  repositoryId: number,
  outcome: { done: boolean; note?: string; zombies?: (ZombieCandidate & { buildStep: string })[] },
  at: Date,
): Promise<void> => {
  await db.transaction().execute(async (trx) => {
    const zombies = outcome.zombies ?? []
    for (let i = 0; i < zombies.length; i += 500) {
      await trx
        .insertInto('zombie_layers')
        .values(
          zombies.slice(i, i + 500).map((zombie) => ({
            repository_id: repositoryId,
            tag_move_id: move.id,
            layer_digest: zombie.digest,
            media_type: zombie.mediaType,
            size: zombie.size,
            tag: move.tag,
            old_manifest_digest: move.oldDigest,
            new_manifest_digest: move.newDigest,
            moved_at: move.movedAt,
            source_manifest_digest: zombie.sourceManifestDigest,
            platform: zombie.platform,
            layer_index: zombie.layerIndex,
            build_step: zombie.buildStep,
            // not checked yet: the pass HEADs every zombie it knows right after
            status: 'retrievable' as const,
            detected_at: at,
            last_checked_at: at,
          })),
        )
        .onConflict((conflict) => conflict.constraint('zombie_layers_move_layer_key').doNothing())
        .execute()
    }
    await trx
      .updateTable('tag_moves')
      .set({
        analysis_attempts: sql`analysis_attempts + 1`,
        analysis_note: outcome.note ?? null,
        ...(outcome.done ? { analyzed_at: at } : {}),
      })
      .where('id', '=', move.id)
      .execute()
  })
}

export interface StoredZombie {
  id: number
  tagMoveId: number
  layerDigest: string
  mediaType: string
  size: number | null
  tag: string
  oldManifestDigest: string
  newManifestDigest: string
  movedAt: Date
  sourceManifestDigest: string
  platform: string
  layerIndex: number
  buildStep: string
  status: ZombieStatus
  statusDetail: string | null
  scanAttempts: number
  scannedAt: Date | null
  findings: number
  suppressedFindings: number
  scanRunId: number | null
  detectedAt: Date
}

const ZOMBIE_COLUMNS = [
  'id',
  'tag_move_id',
  'layer_digest',
  'media_type',
  'size',
  'tag',
  'old_manifest_digest',
  'new_manifest_digest',
  'moved_at',
  'source_manifest_digest',
  'platform',
  'layer_index',
  'build_step',
  'status',
  'status_detail',
  'scan_attempts',
  'scanned_at',
  'findings',
  'suppressed_findings',
  'scan_run_id',
  'detected_at',
] as const

const toStoredZombie = (row: Pick<Selectable<ZombieLayersTable>, (typeof ZOMBIE_COLUMNS)[number]>): StoredZombie => ({
  id: row.id,
  tagMoveId: row.tag_move_id,
  layerDigest: row.layer_digest,
  mediaType: row.media_type,
  size: row.size,
  tag: row.tag,
  oldManifestDigest: row.old_manifest_digest,
  newManifestDigest: row.new_manifest_digest,
  movedAt: row.moved_at,
  sourceManifestDigest: row.source_manifest_digest,
  platform: row.platform,
  layerIndex: row.layer_index,
  buildStep: row.build_step,
  status: row.status,
  statusDetail: row.status_detail,
  scanAttempts: row.scan_attempts,
  scannedAt: row.scanned_at,
  findings: row.findings,
  suppressedFindings: row.suppressed_findings,
  scanRunId: row.scan_run_id,
  detectedAt: row.detected_at,
})

/** Every zombie layer of the repository, oldest first (gone ones too: they say which layers were already read). */
export const readZombieLayers = async (db: Db, repositoryId: number): Promise<StoredZombie[]> => {
  const rows = await db.selectFrom('zombie_layers').select(ZOMBIE_COLUMNS).where('repository_id', '=', repositoryId).orderBy('id').execute()
  return rows.map(toStoredZombie)
}

export interface ZombieUpdate {
  status: ZombieStatus
  checkedAt: Date
  statusDetail?: string | null
  /** a read was attempted this pass */
  attempted?: boolean
  scanned?: { at: Date; findings: number; suppressedFindings: number; scanRunId: number | null }
}

export const updateZombieLayer = async (db: Db, id: number, update: ZombieUpdate): Promise<void> => {
  await db
    .updateTable('zombie_layers')
    .set({
      status: update.status,
      last_checked_at: update.checkedAt,
      ...(update.statusDetail !== undefined ? { status_detail: update.statusDetail } : {}),
      ...(update.status === 'gone' ? { gone_at: sql<Date>`coalesce(gone_at, ${update.checkedAt})` } : {}),
      ...(update.attempted ? { scan_attempts: sql<number>`scan_attempts + 1` } : {}),
      ...(update.scanned
        ? { scanned_at: update.scanned.at, findings: update.scanned.findings, suppressed_findings: update.scanned.suppressedFindings, scan_run_id: update.scanned.scanRunId }
        : {}),
    })
    .where('id', '=', id)
    .execute()
}

// ---- what history shows ----

export interface ZombieFindingSummary {
  id: number
  detector_name: string
  confidence: Confidence
  disposition: DispositionKind
  redacted_value: string
  file_path: string
  line_number: number
}

export interface ZombieLayerHistory {
  layer_digest: string
  media_type: string
  size: number | null
  platform: string
  layer_index: number
  build_step: string
  /** the image manifest of the old image that listed the layer */
  source_manifest_digest: string
  status: ZombieStatus
  status_detail: string | null
  detected_at: string
  last_checked_at: string
  scanned_at: string | null
  gone_at: string | null
  /** actionable findings with an occurrence in the layer */
  findings: number
  suppressed_findings: number
  /** those findings, actionable first (suppressed ones too) */
  finding_list: ZombieFindingSummary[]
}

export interface TagMoveHistory {
  id: number
  tag: string
  old_digest: string
  new_digest: string
  /** the tag was last seen at the old digest then (it moved after) */
  old_last_seen_at: string | null
  /** the tag was first seen at the new digest then (it moved at or before) */
  moved_at: string
  detected_at: string
  analyzed_at: string | null
  analysis_note: string | null
  zombie_layers: ZombieLayerHistory[]
}

export interface RepositoryHistory {
  registry: string
  name: string
  summary: {
    tag_moves: number
    zombie_layers: Record<ZombieStatus, number>
    /** actionable findings in zombie layers, all moves together */
    zombie_findings: number
  }
  /** tag moves, newest first, each with the layers it orphaned */
  items: TagMoveHistory[]
  total: number
  limit: number
  offset: number
}

const iso = (date: Date): string => date.toISOString()
const isoOrNull = (date: Date | null): string | null => (date ? date.toISOString() : null)

/** The repository's tag moves (newest first, paginated) and zombie layers; undefined when the repository is unknown. */
export const readRepositoryHistory = async (database: Kysely<DatabaseSchema>, ref: RepositoryRef, request: PageRequest = {}): Promise<RepositoryHistory | undefined> => {
  const db = historyDb(database)
  const { limit, offset } = parsePage(request)
  const { registry, name } = normalizeRepositoryRef(ref)
  const repository = await db.selectFrom('repositories').select('id').where('registry', '=', registry).where('name', '=', name).executeTakeFirst()
  if (!repository) return undefined
  const [moves, total, statuses, distinctFindings] = await Promise.all([
    db
      .selectFrom('tag_moves')
      .select(['id', 'tag', 'old_digest', 'new_digest', 'old_last_seen_at', 'moved_at', 'detected_at', 'analyzed_at', 'analysis_note'])
      .where('repository_id', '=', repository.id)
      .orderBy('moved_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .offset(offset)
      .execute(),
    db.selectFrom('tag_moves').where('repository_id', '=', repository.id).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    db
      .selectFrom('zombie_layers')
      .where('repository_id', '=', repository.id)
      .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute(),
    // distinct findings: a layer orphaned by two moves holds the same findings once
    db
      .selectFrom('finding_occurrences as o')
      .innerJoin('findings as f', 'f.id', 'o.finding_id')
      .innerJoin('repository_manifests as rm', 'rm.manifest_digest', 'f.manifest_digest')
      .where('rm.repository_id', '=', repository.id)
      .where('o.source_type', '=', 'zombie_layer')
      .where('f.disposition', '=', 'actionable')
      .select((eb) => eb.fn.count<number>('f.id').distinct().as('n'))
      .executeTakeFirstOrThrow(),
  ])
  const ids = moves.map((move) => move.id)
  const zombies = ids.length
    ? await db
        .selectFrom('zombie_layers')
        .select([
          'id',
          'tag_move_id',
          'layer_digest',
          'media_type',
          'size',
          'platform',
          'layer_index',
          'build_step',
          'source_manifest_digest',
          'status',
          'status_detail',
          'detected_at',
          'last_checked_at',
          'scanned_at',
          'gone_at',
          'findings',
          'suppressed_findings',
        ])
        .where('tag_move_id', 'in', ids)
        .orderBy('tag_move_id')
        .orderBy('layer_index')
        .orderBy('id')
        .execute()
    : []
  // the findings of each zombie layer: occurrences of source_type zombie_layer in that layer, under the old image's manifest
  const findings = zombies.length
    ? await db
        .selectFrom('finding_occurrences as o')
        .innerJoin('findings as f', 'f.id', 'o.finding_id')
        .select(['f.id', 'f.manifest_digest', 'f.detector_name', 'f.confidence', 'f.disposition', 'f.redacted_value', 'o.layer_digest', 'o.file_path', 'o.line_number'])
        .where('o.source_type', '=', 'zombie_layer')
        .where('o.layer_digest', 'in', [...new Set(zombies.map((zombie) => zombie.layer_digest))])
        .orderBy('f.disposition')
        .orderBy('o.file_path')
        .orderBy('o.line_number')
        .orderBy('f.id')
        .execute()
    : []
  const findingsOf = (layerDigest: string, manifestDigest: string): ZombieFindingSummary[] => {
    const seen = new Set<number>()
    const list: ZombieFindingSummary[] = []
    for (const row of findings) {
      if (row.layer_digest !== layerDigest || row.manifest_digest !== manifestDigest || seen.has(row.id)) continue
      seen.add(row.id)
      list.push({
        id: row.id,
        detector_name: row.detector_name,
        confidence: row.confidence as Confidence,
        disposition: row.disposition as DispositionKind,
        redacted_value: row.redacted_value,
        file_path: row.file_path,
        line_number: row.line_number,
      })
    }
    return list
  }
  const counts: Record<ZombieStatus, number> = { retrievable: 0, scanned: 0, gone: 0, failed: 0 }
  for (const row of statuses) counts[row.status] = Number(row.n)
  return {
    registry,
    name,
    summary: { tag_moves: Number(total.n), zombie_layers: counts, zombie_findings: Number(distinctFindings.n) },
    items: moves.map((move) => ({
      id: move.id,
      tag: move.tag,
      old_digest: move.old_digest,
      new_digest: move.new_digest,
      old_last_seen_at: isoOrNull(move.old_last_seen_at),
      moved_at: iso(move.moved_at),
      detected_at: iso(move.detected_at),
      analyzed_at: isoOrNull(move.analyzed_at),
      analysis_note: move.analysis_note,
      zombie_layers: zombies
        .filter((zombie) => zombie.tag_move_id === move.id)
        .map((zombie) => ({
          layer_digest: zombie.layer_digest,
          media_type: zombie.media_type,
          size: zombie.size,
          platform: zombie.platform,
          layer_index: zombie.layer_index,
          build_step: zombie.build_step,
          source_manifest_digest: zombie.source_manifest_digest,
          status: zombie.status,
          status_detail: zombie.status_detail,
          detected_at: iso(zombie.detected_at),
          last_checked_at: iso(zombie.last_checked_at),
          scanned_at: isoOrNull(zombie.scanned_at),
          gone_at: isoOrNull(zombie.gone_at),
          findings: zombie.findings,
          suppressed_findings: zombie.suppressed_findings,
          finding_list: findingsOf(zombie.layer_digest, zombie.source_manifest_digest),
        })),
    })),
    total: Number(total.n),
    limit,
    offset,
  }
}
