/**
 * `layerleak history <repo> [--format text|json]`: what `layerleak watch` recorded about a
 * repository: its tag moves (when, which tag, old -> new digest), newest first, and the zombie
 * layers each move left behind, with their status (retrievable, scanned, failed, gone) and the
 * findings read from them.
 */
import { defineCommand } from 'citty'
import { LayerleakError } from '../core/errors.ts'
import { resolveSettings, settingsFromEnv } from '../core/settings.ts'
import { type LayerleakDatabase, openDatabase } from '../plugins/sinks/database.ts'
import { readRepositoryHistory, type RepositoryHistory, type ZombieLayerHistory } from '../plugins/sinks/history-queries.ts'
import { describeError, ExitCode } from './exit-codes.ts'
import { cleanStep, humanSize, truncate } from './format.ts'
import { loadConfig } from './load-config.ts'
import { settingsFromArgs } from './settings-args.ts'
import { watchedRepository } from './watch-pass.ts'

const FORMATS = ['text', 'json'] as const

export interface HistoryRequest {
  repository: string
  /** flags as citty parsed them: `database-url`, `data-dir`, `config` */
  args: Record<string, unknown>
  format?: (typeof FORMATS)[number]
  /** tag moves per page (default 50, at most 200) and how many to skip */
  limit?: number | string
  offset?: number | string
  env?: Record<string, string | undefined>
  write?: (text: string) => void
  error?: (text: string) => void
}

const plural = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`

const zombieLines = (zombie: ZombieLayerHistory): string[] => {
  const where = [`layer ${zombie.layer_index}`, zombie.platform, zombie.size !== null ? humanSize(zombie.size) : ''].filter(Boolean).join(', ')
  const when = [zombie.scanned_at ? `read ${zombie.scanned_at}` : '', zombie.gone_at ? `gone since ${zombie.gone_at}` : ''].filter(Boolean).join(', ')
  const found = zombie.scanned_at ? `, ${plural(zombie.findings, 'actionable finding')}${zombie.suppressed_findings ? `, ${zombie.suppressed_findings} suppressed` : ''}` : ''
  const lines = [`    zombie layer ${zombie.layer_digest} (${where}): ${zombie.status}${when ? ` (${when})` : ''}${found}`]
  if (zombie.status_detail) lines.push(`      ${zombie.status_detail}`)
  if (zombie.build_step) lines.push(`      step: ${truncate(cleanStep(zombie.build_step), 100)}`)
  for (const finding of zombie.finding_list) {
    const suppressed = finding.disposition === 'suppressed' ? ' (suppressed)' : ''
    lines.push(`      ${finding.confidence.toUpperCase().padEnd(6)} ${finding.detector_name}  ${finding.redacted_value}  /${finding.file_path}:${finding.line_number}${suppressed}`)
  }
  return lines
}

export const renderHistory = (history: RepositoryHistory): string => {
  const { summary } = history
  const statuses = (['scanned', 'retrievable', 'failed', 'gone'] as const).filter((status) => summary.zombie_layers[status] > 0).map((status) => `${summary.zombie_layers[status]} ${status}`)
  const lines = [
    `${history.registry}/${history.name}: ${plural(summary.tag_moves, 'tag move')}; zombie layers: ${statuses.join(', ') || 'none'}; ${plural(summary.zombie_findings, 'actionable finding')} in zombie layers`,
  ]
  if (history.items.length === 0) lines.push(summary.tag_moves === 0 ? 'No tag has moved since the watch began.' : `(no tag moves after the first ${history.offset})`)
  for (const move of history.items) {
    lines.push('')
    lines.push(`${move.moved_at}  ${move.tag}  ${move.old_digest} -> ${move.new_digest}`)
    if (move.analysis_note) lines.push(`    ${move.analysis_note}`)
    else if (!move.analyzed_at) lines.push('    layers not compared yet')
    for (const zombie of move.zombie_layers) lines.push(...zombieLines(zombie))
  }
  if (history.offset + history.items.length < history.total) lines.push('', `… ${history.total - history.offset - history.items.length} older moves (--offset ${history.offset + history.items.length})`)
  return `${lines.join('\n')}\n`
}

/** Prints one repository's history; returns the exit code. */
export const runHistory = async (request: HistoryRequest): Promise<number> => {
  const write = request.write ?? ((text: string) => process.stdout.write(text))
  const error = request.error ?? ((text: string) => process.stderr.write(text))
  const format = request.format ?? 'text'
  let database: LayerleakDatabase | undefined
  try {
    if (!(FORMATS as readonly string[]).includes(format)) throw new LayerleakError('INVALID_ARGUMENT', `--format must be one of ${FORMATS.join(', ')} (got "${format}")`)
    const reference = watchedRepository(request.repository)
    const { config } = await loadConfig(typeof request.args.config === 'string' ? request.args.config : undefined)
    const settings = resolveSettings(config.settings, settingsFromEnv(request.env ?? process.env), settingsFromArgs(request.args))
    database = await openDatabase({ url: settings.databaseUrl, dataDir: settings.dataDir })
    const history = await readRepositoryHistory(
      database.db,
      { registry: reference.registry, name: reference.repository },
      { ...(request.limit !== undefined ? { limit: request.limit } : {}), ...(request.offset !== undefined ? { offset: request.offset } : {}) },
    )
    if (!history) throw new LayerleakError('NOT_FOUND', `nothing is recorded about ${reference.name}: run \`layerleak watch ${reference.name}\` first`)
    write(format === 'json' ? `${JSON.stringify(history, null, 2)}\n` : renderHistory(history))
    return ExitCode.clean
  } catch (failure) {
    const { message, code } = describeError(failure)
    error(`layerleak history: ${message} [${code}]\n`)
    return ExitCode.error
  } finally {
    await database?.close()
  }
}

export const historyCommand = defineCommand({
  meta: { name: 'history', description: 'show what `layerleak watch` recorded about a repository: tag moves and the zombie layers they left, with their status and findings' },
  args: {
    repository: { type: 'positional', description: 'the repository (alpine, ghcr.io/org/app, localhost:5000/team/app)', required: true },
    format: { type: 'string', description: 'text | json', default: 'text' },
    limit: { type: 'string', description: 'tag moves to show, newest first (default 50, at most 200)' },
    offset: { type: 'string', description: 'tag moves to skip' },
    'database-url': { type: 'string', description: 'postgres:// URL of a server database (same as LAYERLEAK_DATABASE_URL); without it, the embedded database', valueHint: 'url' },
    'data-dir': { type: 'string', description: 'where the embedded database lives (same as LAYERLEAK_DATA_DIR, default .layerleak)', valueHint: 'dir' },
    config: { type: 'string', description: 'config file (default: layerleak.config.* in the current directory)', valueHint: 'file' },
  },
  async run({ args }) {
    process.exitCode = await runHistory({
      repository: String(args.repository),
      args,
      format: (typeof args.format === 'string' ? args.format : 'text') as HistoryRequest['format'],
      ...(typeof args.limit === 'string' ? { limit: args.limit } : {}),
      ...(typeof args.offset === 'string' ? { offset: args.offset } : {}),
    })
  },
})
