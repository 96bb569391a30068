/**
 * `layerleak scan <ref>`: scan an image, write the findings file (always) and any other sinks,
 * print a summary, JSON or SARIF, and exit 0 clean / 1 error / 2 findings / 3 incomplete.
 * `--all-tags` sweeps a bare repository; `--namespace` sweeps every repository of a namespace
 * (scan-namespace.ts).
 */
import { writeFile } from 'node:fs/promises'
import { defineCommand } from 'citty'
import { LayerleakError } from '../core/errors.ts'
import type { Confidence, ScanResult } from '../core/result.ts'
import { scanReference } from '../core/scan.ts'
import type { Sink } from '../core/contracts.ts'
import { jsonFileSink } from '../plugins/sinks/json-file.ts'
import { databaseLayerCache } from '../plugins/sinks/layer-cache.ts'
import { postgresSink } from '../plugins/sinks/postgres.ts'
import { toSarif } from '../plugins/sinks/sarif.ts'
import { sweepReference } from '../plugins/sources/repository-sweep.ts'
import { describeError, ExitCode, exitCodeFor } from './exit-codes.ts'
import { createProgress } from './progress.ts'
import { createScanEnvironment } from './scan-environment.ts'
import { runNamespaceScan, type ScanOne } from './scan-namespace.ts'
import { settingsArgs } from './settings-args.ts'
import { renderSummary } from './summary.ts'

const FORMATS = ['summary', 'json', 'sarif'] as const
const FAIL_ON = ['low', 'medium', 'high', 'never'] as const

const readStdin = async (): Promise<string> => {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}

const oneOf = <T extends readonly string[]>(value: unknown, allowed: T, flag: string): T[number] => {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T[number]
  throw new LayerleakError('INVALID_ARGUMENT', `--${flag} must be one of ${allowed.join(', ')} (got "${String(value)}")`)
}

export const scanArgs = {
  reference: {
    type: 'positional' as const,
    description: 'image reference (alpine:3.20, ghcr.io/org/app@sha256:…, localhost:5000/x/y:z), oci:<dir>[:tag] or docker-archive:<file.tar>; a bare repository with --all-tags',
    required: false,
  },
  'all-tags': { type: 'boolean' as const, description: 'sweep the repository: every tag, each distinct image scanned once (give a bare repository)' },
  namespace: { type: 'string' as const, description: 'sweep every repository of a namespace: a Docker Hub organisation (acme) or a registry prefix (registry.example:5000/team)' },
  platform: { type: 'string' as const, description: 'only this platform of a multi-platform image (os/arch[/variant])' },
  format: { type: 'string' as const, description: 'summary | json | sarif', default: 'summary' },
  output: { type: 'string' as const, alias: 'o', description: 'write the json/sarif output to FILE instead of stdout (- for stdout)' },
  'fail-on': { type: 'string' as const, description: 'exit 2 when actionable findings reach this confidence: low | medium | high | never', default: 'low' },
  'allow-partial': { type: 'boolean' as const, description: 'exit 0 instead of 3 when a limit or a failed layer left coverage incomplete' },
  config: { type: 'string' as const, description: 'config file (default: layerleak.config.{ts,js,json} in the working directory)' },
  baseline: { type: 'string' as const, description: 'suppress the findings in this baseline file (layerleak baseline create) as `in baseline`' },
  username: { type: 'string' as const, description: 'registry user name (with --password-stdin)' },
  'password-stdin': { type: 'boolean' as const, description: 'read the registry password or token from stdin' },
  db: { type: 'boolean' as const, description: 'also store the result in the database: LAYERLEAK_DATABASE_URL, else the embedded one in LAYERLEAK_DATA_DIR (always on when LAYERLEAK_DATABASE_URL is set)' },
  verbose: { type: 'boolean' as const, alias: 'v', description: 'list every occurrence; debug logs' },
  quiet: { type: 'boolean' as const, alias: 'q', description: 'errors only on stderr' },
  ...settingsArgs,
}

export interface ScanRun {
  result: ScanResult
  exitCode: number
  location?: string
}

/** What a scan command needs once its arguments are read: the environment and how to scan one reference. */
interface ScanSession {
  environment: Awaited<ReturnType<typeof createScanEnvironment>>
  scanOne: ScanOne
  format: (typeof FORMATS)[number]
  failOn: Confidence | 'never'
  allowPartial: boolean
  output?: string
  verbose: boolean
  close(): Promise<void>
}

const openSession = async (args: Record<string, unknown>): Promise<ScanSession> => {
  const format = oneOf(args.format ?? 'summary', FORMATS, 'format')
  const failOn = oneOf(args['fail-on'] ?? 'low', FAIL_ON, 'fail-on') as Confidence | 'never'
  let credentials: { username: string; password: string } | undefined
  if (args['password-stdin']) {
    if (typeof args.username !== 'string') throw new LayerleakError('INVALID_ARGUMENT', '--password-stdin needs --username')
    credentials = { username: args.username, password: await readStdin() }
  } else if (typeof args.username === 'string') {
    throw new LayerleakError('INVALID_ARGUMENT', '--username needs --password-stdin (passwords are never taken as flags)')
  }
  const environment = await createScanEnvironment({
    args,
    ...(credentials ? { credentials } : {}),
    ...(args.quiet ? { logLevel: 'error' as const } : args.verbose ? { logLevel: 'debug' as const } : {}),
  })
  const { logger, settings } = environment
  const progress = createProgress()
  const databaseSink = args.db === true || settings.databaseUrl ? postgresSink({ ...(settings.databaseUrl ? { url: settings.databaseUrl } : {}), dataDir: settings.dataDir }) : undefined
  const sinks: Sink[] = [...environment.sinks, ...(databaseSink ? [databaseSink] : [])]
  try {
    // an unreachable database, or one whose schema is behind, fails before the scan does any work
    for (const sink of sinks) await sink.open?.()
  } catch (error) {
    await Promise.allSettled([databaseSink?.close(), environment.close()])
    throw error
  }
  /** one scan; its findings file and sinks are written whatever happened: partial and failed results are results too */
  // with a database, layers scanned before (same detector catalog; with matches, same filters too) are not downloaded again
  const layerRecords = databaseSink ? databaseLayerCache(await databaseSink.open()) : undefined
  const scanOne: ScanOne = async (reference, sweep, layerCache) => {
    const result = await scanReference({
      ...(layerRecords ? { layerRecords } : {}),
      reference,
      sources: environment.sources,
      detectors: environment.detectors,
      filters: environment.filters,
      limits: environment.limits,
      archiveReaders: environment.archiveReaders,
      archiveLimits: environment.archiveLimits,
      ...(environment.fileScanPool ? { fileScanPool: environment.fileScanPool } : {}),
      ...(typeof args.platform === 'string' ? { platform: args.platform } : {}),
      ...(sweep ? { allTags: true } : {}),
      ...(layerCache ? { layerCache } : {}),
      persistRawSecrets: settings.persistRawSecrets,
      ...(settings.fingerprintKey ? { fingerprintKey: settings.fingerprintKey } : {}),
      scanner: { name: 'layerleak', version: environment.version },
      detectorCatalogVersion: environment.catalogVersion,
      onEvent: (event) => {
        progress.onEvent(event)
        for (const sink of sinks) sink.onEvent?.(event)
        if (event.type === 'diagnostic') logger.debug(`${event.diagnostic.code}: ${event.diagnostic.message}`)
        if (event.type === 'layer-done' && !event.cached) logger.debug(`layer ${event.digest}: ${event.files} files, ${event.matches} matches`)
      },
    })
    progress.done()
    const receipt = await jsonFileSink({ directory: settings.findingsDir }).write(result)
    for (const sink of sinks) {
      const written = await sink.write(result)
      if (written?.location) logger.info(`${sink.name}: ${written.location}`)
    }
    return { result, ...(receipt?.location ? { location: receipt.location } : {}) }
  }
  return {
    environment,
    scanOne,
    format,
    failOn,
    allowPartial: args['allow-partial'] === true,
    ...(typeof args.output === 'string' && args.output !== '-' ? { output: args.output } : {}),
    verbose: args.verbose === true,
    async close() {
      progress.done()
      await databaseSink?.close()
      await environment.close()
    },
  }
}

/** The scan command's work, separate from argument parsing so `demo` can reuse it. */
export const runScan = async (args: Record<string, unknown>): Promise<ScanRun> => {
  if (typeof args.reference !== 'string' || args.reference === '') throw new LayerleakError('INVALID_ARGUMENT', 'give an image reference to scan (or --namespace <org>)')
  const reference = args.reference
  const allTags = args['all-tags'] === true
  // refused before anything is fetched: a sweep takes a bare registry repository
  if (allTags) sweepReference(reference.replace(/^docker:\/\//, ''))
  const session = await openSession(args)
  const { format, output, environment } = session
  try {
    const { result, location } = await session.scanOne(reference, allTags)
    if (format === 'summary') process.stdout.write(renderSummary(result, { ...(location ? { location } : {}), verbose: session.verbose }))
    else {
      const text = `${JSON.stringify(format === 'json' ? result : toSarif(result), null, 2)}\n`
      if (output) await writeFile(output, text, { mode: 0o600 })
      else process.stdout.write(text)
      if (location) environment.logger.info(`findings file: ${location}`)
    }
    if (result.status === 'failed') {
      const reason = result.diagnostics.find((diagnostic) => diagnostic.code === 'resolve_failed' || diagnostic.code === 'target_failed')
      process.stderr.write(`layerleak: ${reason?.message ?? 'the scan failed'}\n`)
    }
    return { result, exitCode: exitCodeFor(result, { failOn: session.failOn, allowPartial: session.allowPartial }), ...(location ? { location } : {}) }
  } finally {
    await session.close()
  }
}

/** `--namespace`: every repository swept, one findings file each, one combined report. */
export const runNamespace = async (args: Record<string, unknown>): Promise<{ exitCode: number }> => {
  if (typeof args.reference === 'string' && args.reference !== '') throw new LayerleakError('INVALID_ARGUMENT', 'give an image reference or --namespace, not both')
  const session = await openSession(args)
  try {
    return await runNamespaceScan(String(args.namespace), session)
  } finally {
    await session.close()
  }
}

export const scanCommand = defineCommand({
  meta: { name: 'scan', description: 'scan an image for leaked secrets: every layer (deleted files too), env, labels, history' },
  args: scanArgs,
  async run({ args }) {
    try {
      const { exitCode } = typeof args.namespace === 'string' && args.namespace !== '' ? await runNamespace(args) : await runScan(args)
      process.exitCode = exitCode
    } catch (error) {
      const { message } = describeError(error)
      process.stderr.write(`layerleak: ${message}\n`)
      process.exitCode = ExitCode.error
    }
  },
})
