/**
 * `layerleak migrate up|status`: the only way a server database's schema changes. The embedded
 * database migrates itself on open; these commands work on it too, for a look at its ledger.
 */
import { defineCommand } from 'citty'
import { resolveSettings, settingsFromEnv } from '../core/settings.ts'
import { connectDatabase, type LayerleakDatabase } from '../plugins/sinks/database.ts'
import { type MigrationStatusEntry, migrateUp, migrationStatus } from '../plugins/sinks/migrations.ts'
import { describeError, ExitCode } from './exit-codes.ts'
import { loadConfig } from './load-config.ts'
import { settingsFromArgs } from './settings-args.ts'

export interface MigrateRequest {
  action: 'up' | 'status'
  /** flags, as citty parsed them: `database-url`, `data-dir`, `config` */
  args: Record<string, unknown>
  env?: Record<string, string | undefined>
  /** where results go (stdout); errors go to `error` (stderr) */
  write?: (text: string) => void
  error?: (text: string) => void
  json?: boolean
  migrationsDir?: string
}

const label = (entry: { version: number; name: string }) => `${String(entry.version).padStart(4, '0')}_${entry.name}`

const describeDatabase = (database: LayerleakDatabase) => `${database.kind === 'server' ? 'server database' : 'embedded database'} ${database.location}`

const statusLines = (entries: MigrationStatusEntry[]): string[] => {
  const width = Math.max(0, ...entries.map((entry) => label(entry).length))
  const lines = entries.map((entry) => `  ${label(entry).padEnd(width)}  ${entry.state.padEnd(8)}${entry.applied_at ? `  ${entry.applied_at}` : ''}`)
  const count = (state: MigrationStatusEntry['state']) => entries.filter((entry) => entry.state === state).length
  const summary = [`${count('applied')} applied`, `${count('pending')} pending`]
  if (count('modified') > 0) summary.push(`${count('modified')} modified since applied (migrate up will refuse)`)
  if (count('unknown') > 0) summary.push(`${count('unknown')} applied by a newer layerleak`)
  return [...lines, summary.join(', ')]
}

/** Runs one migrate action; returns the exit code. */
export const runMigrate = async (request: MigrateRequest): Promise<number> => {
  const write = request.write ?? ((text: string) => process.stdout.write(text))
  const error = request.error ?? ((text: string) => process.stderr.write(text))
  let database: LayerleakDatabase | undefined
  try {
    const { config } = await loadConfig(typeof request.args.config === 'string' ? request.args.config : undefined)
    const settings = resolveSettings(config.settings, settingsFromEnv(request.env ?? process.env), settingsFromArgs(request.args))
    database = await connectDatabase({ url: settings.databaseUrl, dataDir: settings.dataDir, migrationsDir: request.migrationsDir })
    const options = { migrationsDir: request.migrationsDir }
    if (request.action === 'up') {
      const applied = await migrateUp(database.db, options)
      if (request.json) write(`${JSON.stringify({ database: database.location, kind: database.kind, applied: applied.map(label) })}\n`)
      else if (applied.length === 0) write(`${describeDatabase(database)}: schema is up to date\n`)
      else write(`${describeDatabase(database)}: applied ${applied.map(label).join(', ')}\n`)
      return ExitCode.clean
    }
    const entries = await migrationStatus(database.db, options)
    if (request.json) write(`${JSON.stringify({ database: database.location, kind: database.kind, migrations: entries })}\n`)
    else write(`${[`${describeDatabase(database)}:`, ...statusLines(entries)].join('\n')}\n`)
    // a changed file is an error worth failing a deploy script on; pending ones are what `up` is for
    return entries.some((entry) => entry.state === 'modified') ? ExitCode.error : ExitCode.clean
  } catch (failure) {
    const { code, message } = describeError(failure)
    error(`layerleak migrate ${request.action}: ${message} [${code}]\n`)
    return ExitCode.error
  } finally {
    await database?.close()
  }
}

const sharedArgs = {
  'database-url': { type: 'string', description: 'postgres:// URL of a server database (same as LAYERLEAK_DATABASE_URL); without it, the embedded database', valueHint: 'url' },
  'data-dir': { type: 'string', description: 'where the embedded database lives (same as LAYERLEAK_DATA_DIR, default .layerleak)', valueHint: 'dir' },
  config: { type: 'string', description: 'config file (default: layerleak.config.* in the current directory)', valueHint: 'file' },
  json: { type: 'boolean', description: 'print JSON' },
} as const

const subcommand = (action: MigrateRequest['action'], description: string) =>
  defineCommand({
    meta: { name: action, description },
    args: sharedArgs,
    async run({ args }) {
      process.exitCode = await runMigrate({ action, args, json: Boolean(args.json) })
    },
  })

export const migrateCommand = defineCommand({
  meta: { name: 'migrate', description: 'Apply or inspect database migrations (a server database is only ever migrated by this command)' },
  subCommands: {
    up: subcommand('up', 'Apply every pending migration, in order, each in its own transaction, under an advisory lock'),
    status: subcommand('status', 'List applied and pending migrations'),
  },
})
