/**
 * The clean-layer cache over layerleak's database (table layer_changesets, migration 0003): a
 * layer read to its end without a match, under a detector catalog version, is remembered with
 * what later scans still need of it (file and byte counts, its changeset), so they skip the
 * download. `get` asks for many digests in one query; `put` upserts many records per statement.
 * Same SQL on PostgreSQL and PGlite.
 *
 * Only clean layers belong here, and only the caller knows which layers are: put() stores what it
 * is given. A row that cannot be read back as a changeset (written by some other program, say) is
 * a miss, never an error: it costs one download.
 */
import { sql } from 'kysely'
import type { CleanLayerRecord, LayerCache } from '../../core/contracts.ts'
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

type Changeset = Pick<CleanLayerRecord, 'entries' | 'whiteouts' | 'opaqueDirectories'>

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

const checkRecord = (record: CleanLayerRecord): void => {
  if (typeof record?.digest !== 'string' || record.digest === '') throw new LayerleakError('INVALID_ARGUMENT', 'a clean-layer record needs the layer digest')
  if (!countOk(record.files) || !countOk(record.bytes)) {
    throw new LayerleakError('INVALID_ARGUMENT', `clean-layer record ${record.digest}: files and bytes must be whole numbers >= 0`)
  }
  if (!Array.isArray(record.entries) || !Array.isArray(record.whiteouts) || !Array.isArray(record.opaqueDirectories)) {
    throw new LayerleakError('INVALID_ARGUMENT', `clean-layer record ${record.digest}: entries, whiteouts and opaqueDirectories must be arrays`)
  }
}

interface EncodedRecord {
  record: CleanLayerRecord
  changeset: string
}

/** Consecutive records whose changesets together stay under the statement budget. */
const statementBatches = (records: EncodedRecord[]): EncodedRecord[][] => {
  const out: EncodedRecord[][] = []
  let current: EncodedRecord[] = []
  let characters = 0
  for (const record of records) {
    if (current.length > 0 && (characters + record.changeset.length > CHANGESET_CHARACTERS_PER_STATEMENT || current.length >= RECORDS_PER_STATEMENT)) {
      out.push(current)
      current = []
      characters = 0
    }
    current.push(record)
    characters += record.changeset.length
  }
  if (current.length > 0) out.push(current)
  return out
}

const databaseError = (what: string, cause: unknown) =>
  cause instanceof LayerleakError ? cause : new LayerleakError('DATABASE_ERROR', `layer cache: cannot ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })

export const databaseLayerCache = (database: LayerleakDatabase): LayerCache => {
  const { db } = database
  return {
    async get(digests, catalogVersion) {
      const found = new Map<string, CleanLayerRecord>()
      const wanted = [...new Set(digests.filter((digest) => typeof digest === 'string' && digest !== ''))]
      try {
        for (const batch of batches(wanted, DIGESTS_PER_QUERY)) {
          // changeset as text: parsed here, the same way whichever driver read it
          const { rows } = await sql<{ layer_digest: string; files: number; bytes: number; changeset: string }>`
            select layer_digest, files, bytes, changeset::text as changeset
            from layer_changesets
            where detector_catalog_version = ${catalogVersion} and layer_digest = any(${arrayParameter(batch, 'text')})`.execute(db)
          for (const row of rows) {
            const changeset = decodeChangeset(row.changeset)
            if (changeset) found.set(row.layer_digest, { digest: row.layer_digest, files: Number(row.files), bytes: Number(row.bytes), ...changeset })
          }
        }
      } catch (cause) {
        throw databaseError(`read ${wanted.length} layer${wanted.length === 1 ? '' : 's'}`, cause)
      }
      return found
    },

    async put(records, catalogVersion) {
      for (const record of records) checkRecord(record)
      // one row per digest (the last record of a digest wins), in digest order: concurrent puts lock rows in the same order
      const unique = [...new Map(records.map((record) => [record.digest, record])).values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0))
      const encoded = unique.map((record) => ({ record, changeset: encodeChangeset(record) }))
      try {
        for (const batch of statementBatches(encoded)) {
          // the batch as one json document, each changeset embedded as it is: no escaping into an
          // array literal, one parse on the server. (Cast from text: postgres.js would encode a
          // string bound to a json parameter as a JSON string.)
          const document = `[${batch
            .map(
              ({ record, changeset }) =>
                `{"digest":${JSON.stringify(record.digest)},"files":${record.files},"bytes":${record.bytes},"path_count":${record.entries.length + record.whiteouts.length + record.opaqueDirectories.length},"changeset":${changeset}}`,
            )
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
      } catch (cause) {
        throw databaseError(`store ${unique.length} layer${unique.length === 1 ? '' : 's'}`, cause)
      }
    },
  }
}
