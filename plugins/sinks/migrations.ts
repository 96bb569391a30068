/**
 * The migrator: plain SQL files `migrations/NNNN_name.up.sql`, applied in version order, each in its
 * own transaction under a Postgres advisory lock (so two `layerleak migrate up` at once apply each
 * file once), recorded in `layerleak_migrations` with the sha256 of the file. A file whose checksum
 * no longer matches what was applied is refused: the database and the files have diverged, and
 * guessing which one is right is not the migrator's job.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Kysely, sql, type Transaction } from 'kysely'
import { LayerleakError } from '../../core/errors.ts'
import type { DatabaseSchema } from './database-schema.ts'

export interface MigrationFile {
  version: number
  /** `initial` for `0001_initial.up.sql` */
  name: string
  file: string
  /** sha256 of the file's bytes, hex */
  checksum: string
  sql: string
}

export type MigrationState = 'applied' | 'pending' | 'modified' | 'unknown'

export interface MigrationStatusEntry {
  version: number
  name: string
  /** applied; pending; modified (applied, but the file changed since); unknown (applied, no such file here: a newer layerleak ran it) */
  state: MigrationState
  applied_at?: string
}

export interface MigratorOptions {
  /** default: the `migrations/` directory of the layerleak package */
  migrationsDir?: string
}

const FILE_NAME = /^(\d{4,})_([a-z0-9_]+)\.up\.sql$/
/** "layl" in ASCII: one lock shared by every layerleak migrator of a database */
const LOCK_KEY = 1818327404
const LEDGER_DDL = `create table if not exists layerleak_migrations (
  version integer primary key,
  name text not null,
  checksum text not null,
  applied_at timestamptz not null default now()
)`

/**
 * `<package root>/migrations`: the package root is the nearest directory above this module whose
 * package.json is layerleak's, so this works from source (plugins/sinks/) and from the build
 * (dist/plugins/sinks/), where migrations/ ships beside dist/.
 */
export const defaultMigrationsDir = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }
      if (pkg.name === 'layerleak') return join(dir, 'migrations')
    } catch {}
    const parent = dirname(dir)
    if (parent === dir) throw new LayerleakError('MIGRATION_ERROR', `cannot find layerleak's migrations/ directory above ${fileURLToPath(import.meta.url)}`)
    dir = parent
  }
}

/** Every `NNNN_name.up.sql` of the directory, in version order. */
export const readMigrationFiles = async (migrationsDir = defaultMigrationsDir()): Promise<MigrationFile[]> => {
  let names: string[]
  try {
    names = await readdir(migrationsDir)
  } catch (cause) {
    throw new LayerleakError('MIGRATION_ERROR', `cannot read the migrations directory ${migrationsDir}: ${(cause as Error).message}`, { cause })
  }
  const files: MigrationFile[] = []
  for (const file of names.filter((name) => name.endsWith('.up.sql')).sort()) {
    const match = FILE_NAME.exec(file)
    if (!match) throw new LayerleakError('MIGRATION_ERROR', `migration file ${file} is not named NNNN_name.up.sql (lower-case name)`)
    const bytes = await readFile(join(migrationsDir, file))
    const version = Number(match[1])
    const clash = files.find((other) => other.version === version)
    if (clash) throw new LayerleakError('MIGRATION_ERROR', `migrations ${clash.file} and ${file} share version ${version}`)
    files.push({ version, name: match[2], file, checksum: createHash('sha256').update(bytes).digest('hex'), sql: bytes.toString('utf8') })
  }
  return files.sort((a, b) => a.version - b.version)
}

interface LedgerRow {
  version: number
  name: string
  checksum: string
  applied_at: Date
}

const ledgerExists = async (db: Kysely<DatabaseSchema> | Transaction<DatabaseSchema>): Promise<boolean> => {
  const { rows } = await sql<{ found: string | null }>`select to_regclass('layerleak_migrations')::text as found`.execute(db)
  return rows[0]?.found != null
}

const readLedger = async (db: Kysely<DatabaseSchema> | Transaction<DatabaseSchema>): Promise<LedgerRow[]> =>
  (await ledgerExists(db)) ? db.selectFrom('layerleak_migrations').select(['version', 'name', 'checksum', 'applied_at']).orderBy('version').execute() : []

const fileLabel = (file: { version: number; name: string }) => `${String(file.version).padStart(4, '0')}_${file.name}`

const compare = (files: MigrationFile[], ledger: LedgerRow[]): MigrationStatusEntry[] => {
  const applied = new Map(ledger.map((row) => [row.version, row]))
  const entries: MigrationStatusEntry[] = files.map((file) => {
    const row = applied.get(file.version)
    if (!row) return { version: file.version, name: file.name, state: 'pending' }
    return { version: file.version, name: file.name, state: row.checksum === file.checksum ? 'applied' : 'modified', applied_at: row.applied_at.toISOString() }
  })
  for (const row of ledger) {
    if (!files.some((file) => file.version === row.version)) entries.push({ version: row.version, name: row.name, state: 'unknown', applied_at: row.applied_at.toISOString() })
  }
  return entries.sort((a, b) => a.version - b.version)
}

const refuseModified = (entries: MigrationStatusEntry[], migrationsDir: string) => {
  const modified = entries.filter((entry) => entry.state === 'modified')
  if (modified.length === 0) return
  throw new LayerleakError(
    'MIGRATION_ERROR',
    `migration ${modified.map(fileLabel).join(', ')} in ${migrationsDir} changed after it was applied (its sha256 differs from the one recorded in layerleak_migrations); ` +
      'restore the file as it was applied, and put schema changes in a new migration',
    { details: { modified: modified.map(fileLabel) } },
  )
}

/** Applied, pending, modified and unknown migrations, without changing anything. */
export const migrationStatus = async (db: Kysely<DatabaseSchema>, options: MigratorOptions = {}): Promise<MigrationStatusEntry[]> => {
  const files = await readMigrationFiles(options.migrationsDir)
  return compare(files, await readLedger(db))
}

/** Applies every pending migration, in order, one transaction each. Returns the files it applied. */
export const migrateUp = async (db: Kysely<DatabaseSchema>, options: MigratorOptions = {}): Promise<MigrationFile[]> => {
  const migrationsDir = options.migrationsDir ?? defaultMigrationsDir()
  const files = await readMigrationFiles(migrationsDir)
  const lock = sql.raw(`select pg_advisory_xact_lock(${LOCK_KEY})`)
  await db.transaction().execute(async (trx) => {
    await lock.execute(trx)
    await sql.raw(LEDGER_DDL).execute(trx)
  })
  const applied: MigrationFile[] = []
  for (;;) {
    // one file per transaction; the ledger is read again under the lock, so a migrator running
    // at the same time never makes this one apply a file twice
    const next = await db.transaction().execute(async (trx) => {
      await lock.execute(trx)
      const entries = compare(files, await readLedger(trx))
      refuseModified(entries, migrationsDir)
      const pending = entries.find((entry) => entry.state === 'pending')
      const file = pending && files.find((candidate) => candidate.version === pending.version)
      if (!file) return undefined
      try {
        await sql.raw(file.sql).execute(trx)
      } catch (cause) {
        throw new LayerleakError('MIGRATION_ERROR', `migration ${file.file} failed, nothing of it was applied: ${(cause as Error).message}`, { cause })
      }
      await trx.insertInto('layerleak_migrations').values({ version: file.version, name: file.name, checksum: file.checksum }).execute()
      return file
    })
    if (!next) return applied
    applied.push(next)
  }
}

/**
 * Fails with SCHEMA_OUT_OF_DATE when a migration of this layerleak has not been applied: a server
 * database is migrated by `layerleak migrate up` only, never behind the operator's back.
 */
export const assertSchemaCurrent = async (db: Kysely<DatabaseSchema>, options: MigratorOptions & { location?: string } = {}): Promise<void> => {
  const entries = await migrationStatus(db, options)
  const pending = entries.filter((entry) => entry.state === 'pending')
  if (pending.length === 0) return
  const where = options.location ? ` at ${options.location}` : ''
  throw new LayerleakError(
    'SCHEMA_OUT_OF_DATE',
    `the database schema${where} is out of date: ${pending.length} migration${pending.length === 1 ? '' : 's'} pending (${pending.map(fileLabel).join(', ')}); run \`layerleak migrate up\``,
    { details: { pending: pending.map(fileLabel) } },
  )
}
