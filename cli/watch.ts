/**
 * `layerleak watch <repo>... [--interval 10m] [--once]`: follows every tag of the repositories,
 * records each tag -> digest in the database, and when a tag moves, hunts the layers the old image
 * had and the new one has not: zombie layers, still downloadable by digest until the registry
 * collects them. Retrievable ones are scanned once; known ones are checked on every pass and
 * marked gone when the registry stops serving them (watch-pass.ts does a pass).
 * `--once`: one pass, exit 0 clean / 2 actionable zombie findings / 1 error. Otherwise a pass
 * every interval until SIGINT/SIGTERM, which stops the pass in flight and closes the database.
 */
import { defineCommand } from 'citty'
import { LayerleakError, toLayerleakError } from '../core/errors.ts'
import { createPrefilter } from '../core/prefilter.ts'
import { parseDuration, type Settings } from '../core/settings.ts'
import { TextScanner } from '../core/text-scanner.ts'
import { type LayerleakDatabase, openDatabase } from '../plugins/sinks/database.ts'
import { jsonFileSink } from '../plugins/sinks/json-file.ts'
import type { ParsedManifest } from '../plugins/sources/image-manifest.ts'
import type { RegistryClient } from '../plugins/sources/registry-client.ts'
import { describeError, ExitCode } from './exit-codes.ts'
import { cleanStep, humanSize, truncate } from './format.ts'
import { createScanEnvironment, type ScanEnvironment } from './scan-environment.ts'
import { settingsArgs } from './settings-args.ts'
import { type RepositoryPass, type WatchContext, watchedRepository, watchRepositoryPass, type ZombieLayerReport } from './watch-pass.ts'

const DEFAULT_INTERVAL = '10m'
const FORMATS = ['text', 'json'] as const

export interface WatchRequest {
  repositories: string[]
  /** flags as citty parsed them: settings (`database-url`, `data-dir`...), `config` */
  args: Record<string, unknown>
  once: boolean
  /** between the starts of two passes; default 10m */
  interval?: string
  format?: (typeof FORMATS)[number]
  /** where pass reports go (stdout); errors go to `error` (stderr) */
  write?: (text: string) => void
  error?: (text: string) => void
  /** stops the watch: the pass in flight is abandoned, the database closed */
  signal?: AbortSignal
  logLevel?: Settings['logLevel']
}

const plural = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`

const zombieLine = (zombie: ZombieLayerReport): string => {
  const where = [`layer ${zombie.layer_index}`, zombie.platform, zombie.size !== null ? humanSize(zombie.size) : ''].filter(Boolean).join(', ')
  const was = zombie.previous_status ? ` (was ${zombie.previous_status})` : ''
  const found = zombie.status === 'scanned' || zombie.findings > 0 ? `, ${plural(zombie.findings, 'actionable finding')}${zombie.suppressed_findings ? `, ${zombie.suppressed_findings} suppressed` : ''}` : ''
  return `  zombie layer ${zombie.layer_digest} (${where}) of ${zombie.tag}@${zombie.old_manifest_digest}: ${zombie.status}${was}${found}${zombie.detail ? ` — ${zombie.detail}` : ''}`
}

/** One pass of one repository, for people. */
export const renderPass = (pass: RepositoryPass): string => {
  const lines: string[] = []
  const header = [`${pass.finished_at || pass.started_at} ${pass.repository}`, plural(pass.tags, 'tag'), `${pass.moves.length} moved`]
  if (pass.tags_failed.length) header.push(`${pass.tags_failed.length} failed`)
  lines.push(header.join(' · '))
  if (pass.error) lines.push(`  error: ${pass.error}`)
  for (const move of pass.moves) lines.push(`  tag ${move.tag} moved ${move.old_digest} -> ${move.new_digest} (after ${move.old_last_seen_at}, by ${move.moved_at})`)
  for (const zombie of pass.zombie_layers) lines.push(zombieLine(zombie))
  for (const finding of pass.findings) {
    const occurrence = finding.occurrences[0]
    lines.push(`    ${finding.confidence.toUpperCase().padEnd(6)} ${finding.detector_name}  ${finding.redacted_value}  /${occurrence.file_path}:${occurrence.line_number} in zombie layer ${occurrence.layer_index}`)
    if (occurrence.build_step) lines.push(`           step: ${truncate(cleanStep(occurrence.build_step), 100)}`)
    if (occurrence.context_snippet) lines.push(`           ${truncate(occurrence.context_snippet, 110)}`)
  }
  if (pass.suppressed_findings_count > 0) lines.push(`  ${pass.suppressed_findings_count} suppressed (likely test fixtures, examples or placeholders)`)
  // the moves and zombie layers above already say what `zombie_layers` says
  for (const diagnostic of pass.diagnostics.filter((entry) => entry.code !== 'attestation_skipped' && entry.code !== 'zombie_layers')) lines.push(`  ${diagnostic.code}: ${diagnostic.message}`)
  return `${lines.join('\n')}\n`
}

const registryClientOf = (environment: ScanEnvironment): RegistryClient => {
  const source = environment.sources.find((candidate) => candidate.name === 'registry') as { client?: RegistryClient } | undefined
  if (!source?.client) throw new LayerleakError('INVALID_CONFIG', 'watch needs the built-in registry source, and the config replaced it')
  return source.client
}

/** Resolves after `ms`, or at once when the signal fires. */
const pause = (ms: number, signal: AbortSignal | undefined): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })

/** Runs the watch; returns the exit code. */
export const runWatch = async (request: WatchRequest): Promise<number> => {
  const write = request.write ?? ((text: string) => process.stdout.write(text))
  const error = request.error ?? ((text: string) => process.stderr.write(text))
  const format = request.format ?? 'text'
  let environment: ScanEnvironment | undefined
  let database: LayerleakDatabase | undefined
  try {
    if (!(FORMATS as readonly string[]).includes(format)) throw new LayerleakError('INVALID_ARGUMENT', `--format must be one of ${FORMATS.join(', ')} (got "${format}")`)
    if (request.repositories.length === 0) throw new LayerleakError('INVALID_ARGUMENT', 'give at least one repository to watch (alpine, ghcr.io/org/app, localhost:5000/team/app)')
    // refused before anything is opened: a tag or a typo is a mistake, not a hint
    for (const repository of request.repositories) watchedRepository(repository)
    let intervalMs: number
    try {
      intervalMs = parseDuration(request.interval ?? DEFAULT_INTERVAL)
    } catch (cause) {
      throw new LayerleakError('INVALID_ARGUMENT', `--interval: ${(cause as Error).message}`, { cause })
    }
    if (intervalMs <= 0) throw new LayerleakError('INVALID_ARGUMENT', '--interval must be longer than 0')

    environment = await createScanEnvironment({ args: request.args, ...(request.logLevel ? { logLevel: request.logLevel } : {}) })
    const { settings, logger } = environment
    const client = registryClientOf(environment)
    database = await openDatabase({ url: settings.databaseUrl, dataDir: settings.dataDir })
    logger.debug(`watch: storing in ${database.kind === 'server' ? 'the server database' : 'the embedded database'} ${database.location}`)
    const findingsFile = jsonFileSink({ directory: settings.findingsDir })
    const manifestCache = new Map<string, Promise<ParsedManifest>>()
    const context: WatchContext = {
      client,
      database,
      scanner: new TextScanner(environment.detectors, createPrefilter(environment.detectors)),
      filters: environment.filters,
      limits: environment.limits,
      archives: { readers: environment.archiveReaders, limits: environment.archiveLimits },
      persistRawSecrets: settings.persistRawSecrets,
      ...(settings.fingerprintKey ? { fingerprintKey: settings.fingerprintKey } : {}),
      scannerInfo: { name: 'layerleak', version: environment.version, detector_catalog_version: environment.catalogVersion },
      tagPageSize: settings.tagPageSize,
      manifestCache,
      ...(request.signal ? { signal: request.signal } : {}),
      onResult: async (result) => {
        const receipt = await findingsFile.write(result)
        if (receipt?.location) logger.info(`findings file: ${receipt.location}`)
      },
      log: (message: string) => logger.debug(message),
    }

    let failed = false
    let found = false
    for (;;) {
      const started = Date.now()
      for (const repository of request.repositories) {
        if (request.signal?.aborted) break
        let pass: RepositoryPass
        try {
          pass = await watchRepositoryPass(repository, context)
        } catch (failure) {
          if (request.signal?.aborted) break
          const { message, code } = describeError(failure)
          const at = new Date().toISOString()
          pass = { repository: watchedRepository(repository).name, started_at: at, finished_at: at, tags: 0, tags_failed: [], moves: [], zombie_layers: [], findings: [], suppressed_findings_count: 0, diagnostics: [], error: `${message} [${code}]` }
        }
        if (pass.error) failed = true
        if (pass.findings.length > 0) found = true
        write(format === 'json' ? `${JSON.stringify(pass)}\n` : renderPass(pass))
      }
      if (request.once || request.signal?.aborted) break
      await pause(Math.max(0, intervalMs - (Date.now() - started)), request.signal)
      if (request.signal?.aborted) break
    }
    if (!request.once) return ExitCode.clean
    return failed ? ExitCode.error : found ? ExitCode.findings : ExitCode.clean
  } catch (failure) {
    const { message, code } = describeError(failure)
    error(`layerleak watch: ${message} [${code}]\n`)
    return ExitCode.error
  } finally {
    await database?.close()
    await environment?.close()
  }
}

export const watchCommand = defineCommand({
  meta: { name: 'watch', description: 'follow every tag of repositories; when a tag moves, find, scan and track the layers it left behind (zombie layers)' },
  args: {
    repository: { type: 'positional', description: 'repositories to watch (alpine, ghcr.io/org/app, localhost:5000/team/app); more may follow', required: true },
    interval: { type: 'string', description: 'time between the starts of two passes: 30s, 10m, 1h', default: DEFAULT_INTERVAL },
    once: { type: 'boolean', description: 'one pass, then exit: 0 nothing found, 2 actionable zombie findings, 1 error' },
    format: { type: 'string', description: 'text | json (one JSON object per repository and pass)', default: 'text' },
    config: { type: 'string', description: 'config file (default: layerleak.config.{ts,js,json} in the working directory)' },
    verbose: { type: 'boolean', alias: 'v', description: 'debug logs: every request decision, every move' },
    quiet: { type: 'boolean', alias: 'q', description: 'errors only on stderr' },
    ...settingsArgs,
  },
  async run({ args }) {
    const controller = new AbortController()
    // `once`: a second signal finds no handler and ends the process at once
    const stop = () => controller.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    try {
      // citty keeps every positional in `_`; the first is also `repository`
      const repositories = (args._ as string[] | undefined)?.length ? (args._ as string[]) : [String(args.repository)]
      process.exitCode = await runWatch({
        repositories,
        args,
        once: args.once === true,
        interval: typeof args.interval === 'string' ? args.interval : DEFAULT_INTERVAL,
        format: (typeof args.format === 'string' ? args.format : 'text') as WatchRequest['format'],
        signal: controller.signal,
        ...(args.quiet ? { logLevel: 'error' as const } : args.verbose ? { logLevel: 'debug' as const } : {}),
      })
    } catch (failure) {
      process.stderr.write(`layerleak watch: ${toLayerleakError(failure).message}\n`)
      process.exitCode = ExitCode.error
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
  },
})
