/**
 * The layer cache over layerleak's database: a layer read to its end, under a detector catalog
 * version, is remembered with what later scans still need of it (file and byte counts, its
 * changeset, and its matches when it had any), so they skip the download. Clean layers live in
 * layer_changesets (migration 0003); layers with matches in layer_matches (migration 0005), under
 * the filter signature their verdicts and fingerprints hold for, each match redacted: the caller
 * hands over no raw value and none is stored. `get` asks for many digests in one query (both
 * tables at once); `put` upserts many records per statement. Same SQL on PostgreSQL and PGlite.
 *
 * Only the caller knows which layers were read whole: put() stores what it is given. A row that
 * cannot be read back (written by some other program, say) is a miss, never an error: it costs one
 * download.
 */
import { sql } from 'kysely'
import type { Confidence, DispositionKind } from '../../core/result.ts'
import type { Disposition, LayerCache, LayerRecord, RememberedMatch } from '../../core/contracts.ts'
import { LayerleakError } from '../../core/errors.ts'
import type { LayerleakDatabase } from './database.ts'
import { arrayParameter, batches } from './unnest-rows.ts'

/** digests per get() query: a sweep asks for hundreds at once, and an IN list of thousands still plans quickly */
const DIGESTS_PER_QUERY = 1_000
/** a put() statement carries records until their changesets reach this much JSON (one bigger record goes alone) */
const CHANGESET_CHARACTERS_PER_STATEMENT = 8 * 1024 * 1024
const RECORDS_PER_STATEMENT = 500

/** The changeset as the `changeset` column stores it (see the migration for why this shape). */
interface StoredChangeset {
  entries: string[]
  /** one character per entry: `1` for a directory, `0` for anything else */
  directories: string
  whiteouts: string[]
  opaque_directories: string[]
}

type Changeset = Pick<LayerRecord, 'entries' | 'whiteouts' | 'opaqueDirectories'>

export const encodeChangeset = (record: Changeset): string => {
  const entries = new Array<string>(record.entries.length)
  const directories = new Array<string>(record.entries.length)
  record.entries.forEach(([path, isDirectory], i) => {
    entries[i] = path
    directories[i] = isDirectory ? '1' : '0'
  })
  const stored: StoredChangeset = { entries, directories: directories.join(''), whiteouts: record.whiteouts, opaque_directories: record.opaqueDirectories }
  return JSON.stringify(stored)
}

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string')

/** The changeset of a stored document, or undefined when it is not one. */
export const decodeChangeset = (text: string): Changeset | undefined => {
  let stored: Partial<StoredChangeset>
  try {
    stored = JSON.parse(text) as Partial<StoredChangeset>
  } catch {
    return undefined
  }
  const { entries, directories, whiteouts, opaque_directories: opaqueDirectories } = stored ?? {}
  if (!isStringArray(entries) || typeof directories !== 'string' || directories.length !== entries.length || !isStringArray(whiteouts) || !isStringArray(opaqueDirectories)) {
    return undefined
  }
  return { entries: entries.map((path, i) => [path, directories.charCodeAt(i) === 49 /* '1' */]), whiteouts, opaqueDirectories }
}

const countOk = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

/** One match as the `matches` column stores it (see migration 0005). */
interface StoredMatch {
  detector: string
  confidence: Confidence
  key: string
  path: string
  /** only when it differs from path (a member of an archive, a file under a hardlinked directory) */
  entry_path?: string
  line: number
  start: number
  end: number
  fingerprint: string
  redacted_value: string
  snippet: string
  final: Disposition
  deleted: Disposition
}

export const encodeMatches = (matches: readonly RememberedMatch[]): string =>
  JSON.stringify(
    matches.map(
      (match): StoredMatch => ({
        detector: match.detectorId,
        confidence: match.confidence,
        key: match.key,
        path: match.path,
        ...(match.entryPath !== match.path ? { entry_path: match.entryPath } : {}),
        line: match.lineNumber,
        start: match.start,
        end: match.end,
        fingerprint: match.fingerprint,
        redacted_value: match.redactedValue,
        snippet: match.contextSnippet,
        final: { disposition: match.verdicts.file_final.disposition, reason: match.verdicts.file_final.reason },
        deleted: { disposition: match.verdicts.file_deleted_layer.disposition, reason: match.verdicts.file_deleted_layer.reason },
      }),
    ),
  )

const CONFIDENCES: ReadonlySet<unknown> = new Set<Confidence>(['low', 'medium', 'high'])
const DISPOSITIONS: ReadonlySet<unknown> = new Set<DispositionKind>(['actionable', 'suppressed'])
const FINGERPRINT = /^[0-9a-f]{64}$/

const decodeVerdict = (value: unknown): Disposition | undefined => {
  const { disposition, reason } = (value ?? {}) as Partial<Disposition>
  return DISPOSITIONS.has(disposition) && typeof reason === 'string' ? { disposition: disposition as DispositionKind, reason } : undefined
}

const decodeMatch = (value: unknown): RememberedMatch | undefined => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  const stored = value as Partial<Record<keyof StoredMatch, unknown>>
  const { detector, confidence, key, path, entry_path: entryPath = stored.path, line, start, end, fingerprint, redacted_value: redactedValue, snippet } = stored
  const [final, deleted] = [decodeVerdict(stored.final), decodeVerdict(stored.deleted)]
  if (typeof detector !== 'string' || detector === '' || !CONFIDENCES.has(confidence) || typeof key !== 'string' || typeof path !== 'string' || typeof entryPath !== 'string') return undefined
  if (!countOk(line) || !countOk(start) || !countOk(end) || typeof fingerprint !== 'string' || !FINGERPRINT.test(fingerprint)) return undefined
  if (typeof redactedValue !== 'string' || typeof snippet !== 'string' || !final || !deleted) return undefined
  return {
    detectorId: detector,
    confidence: confidence as Confidence,
    key,
    path,
    entryPath,
    lineNumber: line,
    start,
    end,
    fingerprint,
    redactedValue,
    contextSnippet: snippet,
    verdicts: { file_final: final, file_deleted_layer: deleted },
  }
}

/** The matches of a stored document, or undefined when it is not a list of them (one bad match spoils the list). */
export const decodeMatches = (text: string): RememberedMatch[] | undefined => {
  let stored: unknown
  try {
    stored = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!Array.isArray(stored) || stored.length === 0) return undefined
  const matches: RememberedMatch[] = []
  for (const item of stored) {
    const match = decodeMatch(item)
    if (!match) return undefined
    matches.push(match)
  }
  return matches
}

const checkRecord = (record: LayerRecord, filterSignature: string | undefined): void => {
  if (typeof record?.digest !== 'string' || record.digest === '') throw new LayerleakError('INVALID_ARGUMENT', 'a layer record needs the layer digest')
  if (!countOk(record.files) || !countOk(record.bytes)) {
    throw new LayerleakError('INVALID_ARGUMENT', `layer record ${record.digest}: files and bytes must be whole numbers >= 0`)
  }
  if (!Array.isArray(record.entries) || !Array.isArray(record.whiteouts) || !Array.isArray(record.opaqueDirectories)) {
    throw new LayerleakError('INVALID_ARGUMENT', `layer record ${record.digest}: entries, whiteouts and opaqueDirectories must be arrays`)
  }
  if (record.matches !== undefined && !Array.isArray(record.matches)) throw new LayerleakError('INVALID_ARGUMENT', `layer record ${record.digest}: matches must be an array`)
  if (record.matches?.length && !filterSignature) {
    throw new LayerleakError('INVALID_ARGUMENT', `layer record ${record.digest} has matches: they are stored only under a filter signature, and none was given`)
  }
}

interface EncodedRecord {
  record: LayerRecord
  changeset: string
  /** the matches' document; absent for a clean layer */
  matches?: string
}

const sizeOf = (record: EncodedRecord): number => record.changeset.length + (record.matches?.length ?? 0)

/** Consecutive records whose documents together stay under the statement budget. */
const statementBatches = (records: EncodedRecord[]): EncodedRecord[][] => {
  const out: EncodedRecord[][] = []
  let current: EncodedRecord[] = []
  let characters = 0
  for (const record of records) {
    if (current.length > 0 && (characters + sizeOf(record) > CHANGESET_CHARACTERS_PER_STATEMENT || current.length >= RECORDS_PER_STATEMENT)) {
      out.push(current)
      current = []
      characters = 0
    }
    current.push(record)
    characters += sizeOf(record)
  }
  if (current.length > 0) out.push(current)
  return out
}

const pathCount = (record: LayerRecord): number => record.entries.length + record.whiteouts.length + record.opaqueDirectories.length

interface CacheRow {
  layer_digest: string
  files: number
  bytes: number
  changeset: string
  /** null for a clean layer's row */
  matches: string | null
}

const databaseError = (what: string, cause: unknown) =>
  cause instanceof LayerleakError ? cause : new LayerleakError('DATABASE_ERROR', `layer cache: cannot ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })

export const databaseLayerCache = (database: LayerleakDatabase): LayerCache => {
  const { db } = database
  return {
    async get(digests, catalogVersion, filterSignature) {
      const found = new Map<string, LayerRecord>()
      /** a layer whose matches could not be read: a miss, even if some clean row of it exists */
      const spoiled = new Set<string>()
      const wanted = [...new Set(digests.filter((digest) => typeof digest === 'string' && digest !== ''))]
      try {
        for (const batch of batches(wanted, DIGESTS_PER_QUERY)) {
          // documents as text: parsed here, the same way whichever driver read them
          const clean = sql`
            select layer_digest, files, bytes, changeset::text as changeset, cast(null as text) as matches
            from layer_changesets
            where detector_catalog_version = ${catalogVersion} and layer_digest = any(${arrayParameter(batch, 'text')})`
          const query = filterSignature
            ? sql<CacheRow>`${clean}
            union all
            select layer_digest, files, bytes, changeset::text as changeset, matches::text as matches
            from layer_matches
            where detector_catalog_version = ${catalogVersion} and filter_signature = ${filterSignature} and layer_digest = any(${arrayParameter(batch, 'text')})`
            : sql<CacheRow>`${clean}`
          const { rows } = await query.execute(db)
          for (const row of rows) {
            const changeset = decodeChangeset(row.changeset)
            const matches = row.matches === null ? undefined : decodeMatches(row.matches)
            if (!changeset || (row.matches !== null && !matches)) {
              if (row.matches !== null) spoiled.add(row.layer_digest)
              continue
            }
            // a layer is clean or has matches under one catalog; were both stored, the matches speak
            if (!matches && found.get(row.layer_digest)?.matches) continue
            found.set(row.layer_digest, { digest: row.layer_digest, files: Number(row.files), bytes: Number(row.bytes), ...changeset, ...(matches ? { matches } : {}) })
          }
        }
      } catch (cause) {
        throw databaseError(`read ${wanted.length} layer${wanted.length === 1 ? '' : 's'}`, cause)
      }
      for (const digest of spoiled) found.delete(digest)
      return found
    },

    async put(records, catalogVersion, filterSignature) {
      for (const record of records) checkRecord(record, filterSignature)
      // one row per digest (the last record of a digest wins), in digest order: concurrent puts lock rows in the same order
      const unique = [...new Map(records.map((record) => [record.digest, record])).values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0))
      const encoded: EncodedRecord[] = unique.map((record) => ({
        record,
        changeset: encodeChangeset(record),
        ...(record.matches?.length ? { matches: encodeMatches(record.matches) } : {}),
      }))
      try {
        for (const batch of statementBatches(encoded.filter((record) => record.matches === undefined))) {
          // the batch as one json document, each changeset embedded as it is: no escaping into an
          // array literal, one parse on the server. (Cast from text: postgres.js would encode a
          // string bound to a json parameter as a JSON string.)
          const document = `[${batch
            .map(({ record, changeset }) => `{"digest":${JSON.stringify(record.digest)},"files":${record.files},"bytes":${record.bytes},"path_count":${pathCount(record)},"changeset":${changeset}}`)
            .join(',')}]`
          await sql`
            insert into layer_changesets (layer_digest, detector_catalog_version, files, bytes, path_count, changeset, scanned_at)
            select u.digest, cast(${catalogVersion} as text), u.files, u.bytes, u.path_count, u.changeset, now()
            from json_to_recordset(cast(cast(${document} as text) as json)) as u (digest text, files bigint, bytes bigint, path_count integer, changeset json)
            on conflict (layer_digest, detector_catalog_version) do update set
              files = excluded.files,
              bytes = excluded.bytes,
              path_count = excluded.path_count,
              changeset = excluded.changeset,
              scanned_at = excluded.scanned_at`.execute(db)
        }
        for (const batch of statementBatches(encoded.filter((record) => record.matches !== undefined))) {
          const document = `[${batch
            .map(
              ({ record, changeset, matches }) =>
                `{"digest":${JSON.stringify(record.digest)},"files":${record.files},"bytes":${record.bytes},"path_count":${pathCount(record)},"match_count":${record.matches?.length ?? 0},"changeset":${changeset},"matches":${matches}}`,
            )
            .join(',')}]`
          await sql`
            insert into layer_matches (layer_digest, detector_catalog_version, filter_signature, files, bytes, path_count, match_count, changeset, matches, scanned_at)
            select u.digest, cast(${catalogVersion} as text), cast(${filterSignature ?? ''} as text), u.files, u.bytes, u.path_count, u.match_count, u.changeset, u.matches, now()
            from json_to_recordset(cast(cast(${document} as text) as json))
              as u (digest text, files bigint, bytes bigint, path_count integer, match_count integer, changeset json, matches json)
            on conflict (layer_digest, detector_catalog_version, filter_signature) do update set
              files = excluded.files,
              bytes = excluded.bytes,
              path_count = excluded.path_count,
              match_count = excluded.match_count,
              changeset = excluded.changeset,
              matches = excluded.matches,
              scanned_at = excluded.scanned_at`.execute(db)
        }
      } catch (cause) {
        throw databaseError(`store ${unique.length} layer${unique.length === 1 ? '' : 's'}`, cause)
      }
    },
  }
}
