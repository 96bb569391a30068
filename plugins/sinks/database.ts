/**
 * Opens layerleak's database: a PostgreSQL server through postgres.js when a URL is given
 * (LAYERLEAK_DATABASE_URL), else the embedded PGlite under the data dir (LAYERLEAK_DATA_DIR), so
 * history works with zero set-up. Same SQL for both. The embedded database is migrated on open; a
 * server database only by `layerleak migrate up`, so opening one whose schema is behind fails with
 * SCHEMA_OUT_OF_DATE. Close what you open: both drivers keep the process (and Deno) alive until then.
 */
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { Kysely } from 'kysely'
import { PostgresJSDialect } from 'kysely-postgres-js'
import postgres from 'postgres'
import { LayerleakError } from '../../core/errors.ts'
import type { DatabaseSchema } from './database-schema.ts'
import { assertSchemaCurrent, migrateUp } from './migrations.ts'
import { pgliteDialect } from './pglite-dialect.ts'

export const IN_MEMORY = 'memory://'

export interface DatabaseOptions {
  /** `postgres://` URL of a server database (LAYERLEAK_DATABASE_URL); without one, the embedded database */
  url?: string
  /** where the embedded database lives (LAYERLEAK_DATA_DIR, default `.layerleak`): in `<dataDir>/pglite`; `memory://` keeps it in memory */
  dataDir?: string
  /** default: the layerleak package's migrations/ */
  migrationsDir?: string
  /** connections to a server database (default 10) */
  maxConnections?: number
  /** a PGlite instance of your own to use as the embedded database (extensions, a preloaded data dir); closed with the database */
  pglite?: PGlite
}

export interface LayerleakDatabase {
  db: Kysely<DatabaseSchema>
  kind: 'server' | 'embedded'
  /** the server URL without its password, or the embedded database's directory (or `memory://`) */
  location: string
  migrationsDir?: string
  /** idempotent */
  close(): Promise<void>
}

/** The URL with its password masked, fit for messages and logs. */
export const redactDatabaseUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return 'postgres://(unparseable URL)'
  }
}

const closeOnce = (close: () => Promise<void>): (() => Promise<void>) => {
  let closing: Promise<void> | undefined
  return () => (closing ??= close())
}

const connectServer = async (url: string, options: DatabaseOptions): Promise<LayerleakDatabase> => {
  const location = redactDatabaseUrl(url)
  const client = postgres(url, {
    max: options.maxConnections ?? 10,
    connect_timeout: 10,
    idle_timeout: 30,
    onnotice: () => {},
    connection: { application_name: 'layerleak' },
    // int8 (ids, counters, count(*)) as numbers, the same as PGlite gives them
    types: { int8: { to: 20, from: [20], serialize: (value: number) => String(value), parse: (value: string) => Number(value) } },
  })
  try {
    await client`select 1`
  } catch (cause) {
    await client.end({ timeout: 1 }).catch(() => {})
    throw new LayerleakError('DATABASE_ERROR', `cannot connect to the database at ${location}: ${(cause as Error).message}`, { cause })
  }
  const db = new Kysely<DatabaseSchema>({ dialect: new PostgresJSDialect({ postgres: client as unknown as postgres.Sql }) })
  return { db, kind: 'server', location, migrationsDir: options.migrationsDir, close: closeOnce(() => db.destroy()) }
}

/**
 * PGlite has no lock of its own: two processes opening one data dir (`layerleak serve` and a
 * `layerleak scan` beside it) would both write and corrupt it. One process at a time, then; a lock
 * left by a process that died on this host is taken over.
 */
const lockEmbedded = async (location: string): Promise<() => Promise<void>> => {
  const path = join(dirname(location), 'pglite.lock')
  const mine = JSON.stringify({ pid: process.pid, hostname: hostname(), since: new Date().toISOString() })
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(path, mine, { flag: 'wx', mode: 0o600 })
      return async () => {
        if ((await readFile(path, 'utf8').catch(() => '')) === mine) await unlink(path).catch(() => {})
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new LayerleakError('DATABASE_ERROR', `cannot lock the embedded database at ${location}: ${(error as Error).message}`, { cause: error })
      }
    }
    const holder = JSON.parse((await readFile(path, 'utf8').catch(() => '')) || '{}') as { pid?: number; hostname?: string }
    let alive = true
    if (holder.hostname === hostname() && typeof holder.pid === 'number') {
      try {
        process.kill(holder.pid, 0)
      } catch (error) {
        alive = (error as NodeJS.ErrnoException).code === 'EPERM'
      }
    }
    if (alive || attempt > 0) {
      throw new LayerleakError(
        'DATABASE_ERROR',
        `the embedded database at ${location} is in use by process ${holder.pid ?? '?'} on ${holder.hostname ?? '?'} (${path}); ` +
          'the embedded database serves one process at a time: stop the other one, or share a PostgreSQL server through LAYERLEAK_DATABASE_URL',
      )
    }
    await unlink(path).catch(() => {})
  }
}

const connectEmbedded = async (options: DatabaseOptions): Promise<LayerleakDatabase> => {
  const dataDir = options.pglite ? IN_MEMORY : (options.dataDir ?? '.layerleak')
  let location = options.pglite?.dataDir ?? IN_MEMORY
  if (dataDir !== IN_MEMORY) {
    location = resolve(dataDir, 'pglite')
    // owner-only: even redacted, the database says where secrets are
    await mkdir(location, { recursive: true, mode: 0o700 })
  }
  const unlock = dataDir === IN_MEMORY ? async () => {} : await lockEmbedded(location)
  let pglite: PGlite
  try {
    pglite = options.pglite ?? new PGlite(location === IN_MEMORY ? undefined : location)
    await pglite.waitReady
  } catch (cause) {
    await unlock()
    throw new LayerleakError('DATABASE_ERROR', `cannot open the embedded database at ${location}: ${(cause as Error).message}`, { cause })
  }
  const db = new Kysely<DatabaseSchema>({ dialect: pgliteDialect(pglite) })
  return { db, kind: 'embedded', location, migrationsDir: options.migrationsDir, close: closeOnce(() => db.destroy().finally(unlock)) }
}

/** Connects, and nothing else: no migration, no schema check (what `layerleak migrate` needs). */
export const connectDatabase = (options: DatabaseOptions = {}): Promise<LayerleakDatabase> => {
  if (options.url) {
    if (!/^postgres(ql)?:\/\//.test(options.url)) throw new LayerleakError('INVALID_CONFIG', 'the database URL must start with postgres:// or postgresql://')
    return connectServer(options.url, options)
  }
  return connectEmbedded(options)
}

/** Connects and makes sure the schema is current: migrates the embedded database, checks a server's. */
export const openDatabase = async (options: DatabaseOptions = {}): Promise<LayerleakDatabase> => {
  const database = await connectDatabase(options)
  try {
    if (database.kind === 'embedded') await migrateUp(database.db, { migrationsDir: options.migrationsDir })
    else await assertSchemaCurrent(database.db, { migrationsDir: options.migrationsDir, location: database.location })
  } catch (error) {
    await database.close()
    throw error
  }
  return database
}
