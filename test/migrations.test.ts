import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { runMigrate } from '../cli/migrate.ts'
import { isLayerleakError } from '../core/errors.ts'
import { connectDatabase, type LayerleakDatabase, openDatabase } from '../plugins/sinks/database.ts'
import { assertSchemaCurrent, defaultMigrationsDir, migrateUp, migrationStatus, readMigrationFiles } from '../plugins/sinks/migrations.ts'
import { storageBackends } from './support/storage-backends.ts'

const backends = storageBackends(inject('postgresUrl'))
const opened: LayerleakDatabase[] = []
const temporary: string[] = []

afterEach(async () => {
  await Promise.all(opened.splice(0).map((database) => database.close()))
  await Promise.all(temporary.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})

/** A migrations directory of our own: the real files, plus whatever a test adds. */
const migrationsCopy = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'layerleak-migrations-'))
  temporary.push(dir)
  await cp(defaultMigrationsDir(), dir, { recursive: true })
  return dir
}

const realFiles = await readMigrationFiles()
/** the version after the last real migration, and a file of it named `NNNN_<name>.up.sql` */
const nextVersion = realFiles.at(-1)!.version + 1
const nextFile = (name: string) => `${String(nextVersion).padStart(4, '0')}_${name}.up.sql`
const allApplied = realFiles.map(() => 'applied')

const tableExists = async (database: LayerleakDatabase, table: string): Promise<boolean> => {
  const { rows } = await sql<{ found: string | null }>`select to_regclass(${table})::text as found`.execute(database.db)
  return rows[0].found !== null
}

describe('the migrations directory', () => {
  it('is found from the module, holds 0001_initial, and names files NNNN_name.up.sql', async () => {
    const files = await readMigrationFiles()
    expect(files[0]).toMatchObject({ version: 1, name: 'initial', file: '0001_initial.up.sql' })
    expect(files.map((file) => file.version)).toEqual([...files.map((file) => file.version)].sort((a, b) => a - b))
  })

  it('refuses a file whose name does not say its version', async () => {
    const dir = await migrationsCopy()
    await writeFile(join(dir, 'add_things.up.sql'), 'select 1;')
    await expect(readMigrationFiles(dir)).rejects.toMatchObject({ code: 'MIGRATION_ERROR' })
  })
})

describe.each(backends)('migrations on $name', (backend) => {
  const fresh = async () => {
    const database = await backend.fresh()
    opened.push(database)
    return database
  }

  it('up applies every file in order, one ledger row each with the sha256 of the file', async () => {
    const database = await fresh()
    const applied = await migrateUp(database.db)
    const files = await readMigrationFiles()
    expect(applied.map((file) => file.file)).toEqual(files.map((file) => file.file))
    const ledger = await database.db.selectFrom('layerleak_migrations').selectAll().orderBy('version').execute()
    const expected = await Promise.all(files.map(async (file) => createHash('sha256').update(await readFile(join(defaultMigrationsDir(), file.file))).digest('hex')))
    expect(ledger.map((row) => [row.version, row.name, row.checksum])).toEqual(files.map((file, i) => [file.version, file.name, expected[i]]))
    for (const table of ['repositories', 'manifests', 'tags', 'layers', 'findings', 'finding_occurrences', 'scan_runs']) expect(await tableExists(database, table)).toBe(true)
  })

  it('up a second time applies nothing', async () => {
    const database = await fresh()
    await migrateUp(database.db)
    expect(await migrateUp(database.db)).toEqual([])
    const ledger = await database.db.selectFrom('layerleak_migrations').select('version').execute()
    expect(ledger).toHaveLength((await readMigrationFiles()).length)
  })

  it('status lists applied and pending migrations without changing anything', async () => {
    const dir = await migrationsCopy()
    const database = await fresh()
    expect((await migrationStatus(database.db, { migrationsDir: dir })).map((entry) => entry.state)).toEqual(realFiles.map(() => 'pending'))
    expect(await tableExists(database, 'layerleak_migrations')).toBe(false)
    await migrateUp(database.db, { migrationsDir: dir })
    await writeFile(join(dir, nextFile('add_notes')), 'alter table repositories add column notes text;\n')
    const status = await migrationStatus(database.db, { migrationsDir: dir })
    expect(status.map((entry) => [entry.version, entry.name, entry.state])).toEqual([
      ...realFiles.map((file) => [file.version, file.name, 'applied']),
      [nextVersion, 'add_notes', 'pending'],
    ])
    expect(status[0].applied_at).toMatch(/^\d{4}-\d\d-\d\dT/)
  })

  it('refuses to run when a file changed after it was applied, and applies nothing after it', async () => {
    const dir = await migrationsCopy()
    const database = await fresh()
    await migrateUp(database.db, { migrationsDir: dir })
    await writeFile(join(dir, '0001_initial.up.sql'), `${await readFile(join(dir, '0001_initial.up.sql'), 'utf8')}\n-- an edit\n`)
    await writeFile(join(dir, nextFile('add_notes')), 'alter table repositories add column notes text;\n')
    const failure = await migrateUp(database.db, { migrationsDir: dir }).catch((error: unknown) => error)
    expect(isLayerleakError(failure, 'MIGRATION_ERROR')).toBe(true)
    expect((failure as Error).message).toContain('0001_initial')
    expect((failure as Error).message).toMatch(/changed after it was applied/)
    expect((await migrationStatus(database.db, { migrationsDir: dir })).map((entry) => entry.state)).toEqual(['modified', ...allApplied.slice(1), 'pending'])
  })

  it('a migration that fails leaves nothing of itself and is not recorded', async () => {
    const dir = await migrationsCopy()
    const database = await fresh()
    await writeFile(join(dir, nextFile('broken')), 'create table half_done (id int);\ninsert into no_such_table values (1);\n')
    const failure = await migrateUp(database.db, { migrationsDir: dir }).catch((error: unknown) => error)
    expect(isLayerleakError(failure, 'MIGRATION_ERROR')).toBe(true)
    expect((failure as Error).message).toContain(nextFile('broken'))
    expect(await tableExists(database, 'half_done')).toBe(false)
    expect((await migrationStatus(database.db, { migrationsDir: dir })).map((entry) => entry.state)).toEqual([...allApplied, 'pending'])
  })
})

describe('a server database', () => {
  const server = backends.find((backend) => backend.name === 'postgresql')!

  it('is never migrated on open: a fresh one fails with SCHEMA_OUT_OF_DATE naming `layerleak migrate up`', async () => {
    const database = await server.fresh()
    opened.push(database)
    const failure = await openDatabase({ url: database.url }).catch((error: unknown) => error)
    expect(isLayerleakError(failure, 'SCHEMA_OUT_OF_DATE')).toBe(true)
    expect((failure as Error).message).toContain('layerleak migrate up')
    expect(await tableExists(database, 'layerleak_migrations')).toBe(false)
  })

  it('whose schema is one migration behind fails with SCHEMA_OUT_OF_DATE, and opens once migrated', async () => {
    const dir = await migrationsCopy()
    const database = await server.fresh()
    opened.push(database)
    await migrateUp(database.db, { migrationsDir: dir })
    await writeFile(join(dir, nextFile('add_notes')), 'alter table repositories add column notes text;\n')
    await expect(openDatabase({ url: database.url, migrationsDir: dir })).rejects.toMatchObject({
      code: 'SCHEMA_OUT_OF_DATE',
      message: expect.stringContaining(nextFile('add_notes').replace('.up.sql', '')),
    })
    await migrateUp(database.db, { migrationsDir: dir })
    const current = await openDatabase({ url: database.url, migrationsDir: dir })
    opened.push(current)
    await expect(assertSchemaCurrent(current.db, { migrationsDir: dir })).resolves.toBeUndefined()
  })

  it('migrated by two migrators at once gets each migration applied once', async () => {
    const database = await server.fresh()
    opened.push(database)
    const other = await connectDatabase({ url: database.url })
    opened.push(other)
    const [first, second] = await Promise.all([migrateUp(database.db), migrateUp(other.db)])
    const files = await readMigrationFiles()
    expect([...first, ...second].map((file) => file.file).sort()).toEqual(files.map((file) => file.file))
    expect(await database.db.selectFrom('layerleak_migrations').select('version').execute()).toHaveLength(files.length)
  })

  it('is unreachable: DATABASE_ERROR with the URL, password masked', async () => {
    const failure = await connectDatabase({ url: 'postgres://layerleak:hunter2@127.0.0.1:1/none' }).catch((error: unknown) => error)
    expect(isLayerleakError(failure, 'DATABASE_ERROR')).toBe(true)
    expect((failure as Error).message).toContain('127.0.0.1:1')
    expect((failure as Error).message).not.toContain('hunter2')
  })
})

describe('the embedded database', () => {
  it('is migrated on open and keeps its data on disk across opens', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'layerleak-data-'))
    temporary.push(dataDir)
    const first = await openDatabase({ dataDir })
    await first.db.insertInto('repositories').values({ registry: 'registry.test', name: 'acme/kept' }).execute()
    await first.close()
    const second = await openDatabase({ dataDir })
    opened.push(second)
    expect(second.location).toBe(join(dataDir, 'pglite'))
    expect(await second.db.selectFrom('repositories').select('name').execute()).toEqual([{ name: 'acme/kept' }])
    expect((await migrationStatus(second.db)).every((entry) => entry.state === 'applied')).toBe(true)
  })
})

describe('the embedded database on disk', () => {
  it('serves one process at a time: a second open fails with DATABASE_ERROR until the first closes', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'layerleak-data-'))
    temporary.push(dataDir)
    const first = await connectDatabase({ dataDir })
    const failure = await connectDatabase({ dataDir }).catch((error: unknown) => error)
    expect(isLayerleakError(failure, 'DATABASE_ERROR')).toBe(true)
    expect((failure as Error).message).toContain(`in use by process ${process.pid}`)
    await first.close()
    const second = await connectDatabase({ dataDir })
    opened.push(second)
  })

  it('takes over the lock of a process that died', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'layerleak-data-'))
    temporary.push(dataDir)
    const dead = spawnSync(process.execPath, ['-e', '']).pid
    await writeFile(join(dataDir, 'pglite.lock'), JSON.stringify({ pid: dead, hostname: hostname(), since: '2026-01-01T00:00:00.000Z' }))
    const database = await connectDatabase({ dataDir })
    opened.push(database)
    expect(JSON.parse(await readFile(join(dataDir, 'pglite.lock'), 'utf8'))).toMatchObject({ pid: process.pid })
  })
})

describe('layerleak migrate', () => {
  it('status shows pending, up applies, status then shows applied (server database from LAYERLEAK_DATABASE_URL)', async () => {
    const server = backends.find((backend) => backend.name === 'postgresql')!
    const database = await server.fresh()
    opened.push(database)
    const env = { LAYERLEAK_DATABASE_URL: database.url }
    const output: string[] = []
    const write = (text: string) => output.push(text)
    const error = (text: string) => output.push(`stderr: ${text}`)
    expect(await runMigrate({ action: 'status', args: {}, env, write, error })).toBe(0)
    expect(output.join('')).toMatch(/0001_initial\s+pending/)
    output.length = 0
    expect(await runMigrate({ action: 'up', args: {}, env, write, error })).toBe(0)
    expect(output.join('')).toContain('applied 0001_initial')
    output.length = 0
    expect(await runMigrate({ action: 'status', args: {}, env, write, error, json: true })).toBe(0)
    const status = JSON.parse(output.join('')) as { kind: string; migrations: Array<{ name: string; state: string }> }
    expect(status.kind).toBe('server')
    expect(status.migrations.map((entry) => [entry.name, entry.state])).toEqual(realFiles.map((file) => [file.name, 'applied']))
  })

  it('reports a broken database URL on stderr with exit code 1', async () => {
    const output: string[] = []
    const code = await runMigrate({ action: 'up', args: { 'database-url': 'postgres://nobody@127.0.0.1:1/none' }, env: {}, write: (text) => output.push(text), error: (text) => output.push(`stderr: ${text}`) })
    expect(code).toBe(1)
    expect(output.join('')).toMatch(/^stderr: layerleak migrate up: cannot connect .*\[DATABASE_ERROR\]/)
  })
})
