/**
 * `layerleak serve`: the HTTP API and pages on LAYERLEAK_API_ADDR (default 127.0.0.1:8080; port 0
 * picks one, and the address is printed), under whichever runtime runs it. Scans go through a
 * registry source whose every request passes the SSRF guard; results go to the database (the
 * embedded one unless LAYERLEAK_DATABASE_URL is set; a server database must be migrated first).
 * SIGINT/SIGTERM stop it cleanly: running scans are aborted, then the server, the database and
 * the sources are closed (PGlite and Deno keep the process alive otherwise).
 */
import { defineCommand } from 'citty'
import { LayerleakError } from '../core/errors.ts'
import { openDatabase, type LayerleakDatabase } from '../plugins/sinks/database.ts'
import { registrySource } from '../plugins/sources/registry.ts'
import type { RunningServer } from '../adapters/runtime.ts'
import { databaseLayerCache } from '../plugins/sinks/layer-cache.ts'
import { createApiScanner } from '../server/api-scanner.ts'
import { createApp } from '../server/app.ts'
import { loadApiTokens } from '../server/auth.ts'
import { createScanService, type ScanService } from '../server/scan-service.ts'
import { createSsrfGuard } from '../server/ssrf-guard.ts'
import { describeError, ExitCode } from './exit-codes.ts'
import { createScanEnvironment, type ScanEnvironment } from './scan-environment.ts'
import { settingsArgs } from './settings-args.ts'

/** `127.0.0.1:8080`, `[::1]:0`, `:8080` (all interfaces) */
export const parseListenAddress = (addr: string): { hostname: string; port: number } => {
  const match = /^(?:\[([0-9a-f:]+)\]|([^:\s]*)):(\d{1,5})$/i.exec(addr.trim())
  const port = match ? Number(match[3]) : Number.NaN
  if (!match || port > 65_535) throw new LayerleakError('INVALID_CONFIG', `LAYERLEAK_API_ADDR must be host:port (e.g. 127.0.0.1:8080), got "${addr}"`)
  return { hostname: match[1] ?? (match[2] || '0.0.0.0'), port }
}

const isLoopback = (hostname: string): boolean => hostname === 'localhost' || hostname === '::1' || /^127\./.test(hostname)

/** `host` of a URL setting, to allow what the operator configured on purpose */
const hostOf = (url: string | undefined): string[] => (url ? [new URL(url).host] : [])

export const serveCommand = defineCommand({
  meta: { name: 'serve', description: 'run the HTTP API and web pages (LAYERLEAK_API_ADDR, default 127.0.0.1:8080)' },
  args: {
    config: { type: 'string', description: 'config file (default: layerleak.config.{ts,js,json} in the working directory)' },
    ...settingsArgs,
  },
  async run({ args }) {
    let environment: ScanEnvironment | undefined
    let database: LayerleakDatabase | undefined
    let scans: ScanService | undefined
    let server: RunningServer | undefined
    let registry: ReturnType<typeof registrySource> | undefined
    let stopping: Promise<void> | undefined
    const shutdown = () =>
      (stopping ??= (async () => {
        // should anything still hold the event loop, do not hang a deploy
        setTimeout(() => process.exit(process.exitCode ?? 0), 10_000).unref()
        await scans?.close()
        await server?.close()
        await database?.close()
        await registry?.close?.()
        await environment?.close()
      })())
    const onSignal = (signal: string) => {
      // `once`: a second signal finds no handler and ends the process at once
      environment?.logger.info(`${signal}: stopping (running scans are aborted)`)
      void shutdown()
    }
    try {
      environment = await createScanEnvironment({ args })
      const { settings, logger, adapter } = environment
      const listen = parseListenAddress(settings.apiAddr)
      const tokens = await loadApiTokens(settings)
      database = await openDatabase({ url: settings.databaseUrl, dataDir: settings.dataDir })
      const guard = createSsrfGuard({
        allowedHosts: [...settings.allowedPrivateRegistries, ...hostOf(settings.registryBaseUrl), ...hostOf(settings.registryAuthUrl)],
      })
      // the API's own registry source: the same settings as the CLI's, on a guarded fetch
      registry = registrySource({
        fetch: guard.wrap(adapter.fetch),
        timeoutMs: settings.httpTimeout,
        attempts: settings.registryRequestAttempts,
        insecureRegistries: settings.insecureRegistries,
        tagPageSize: settings.tagPageSize,
        ...(settings.registryBaseUrl ? { registryBaseUrl: settings.registryBaseUrl } : {}),
        ...(settings.registryAuthUrl ? { authUrl: settings.registryAuthUrl } : {}),
        logger: (message: string) => logger.debug(message),
      })
      const scanner = createApiScanner({
        registry,
        guard,
        detectors: environment.detectors,
        filters: environment.filters,
        limits: environment.limits,
        archiveReaders: environment.archiveReaders,
        archiveLimits: environment.archiveLimits,
        ...(environment.fileScanPool ? { fileScanPool: environment.fileScanPool } : {}),
        apiBase: { insecureRegistries: settings.insecureRegistries, ...(settings.registryBaseUrl ? { registryBaseUrl: settings.registryBaseUrl } : {}) },
        persistRawSecrets: settings.persistRawSecrets,
        ...(settings.fingerprintKey ? { fingerprintKey: settings.fingerprintKey } : {}),
        scanner: { name: 'layerleak', version: environment.version },
        detectorCatalogVersion: environment.catalogVersion,
        layerRecords: databaseLayerCache(database),
      })
      // the config's own sinks get every API result too: connect them now, not after the first scan
      for (const sink of environment.sinks) await sink.open?.()
      scans = createScanService({
        database,
        scanner,
        maxConcurrent: settings.maxConcurrentScans,
        maxQueued: settings.maxQueuedScans,
        sinks: environment.sinks,
        logger: { warn: (message) => logger.warn(message), debug: (message) => logger.debug(message) },
      })
      const app = createApp({
        database,
        scans,
        tokens,
        version: environment.version,
        logger: {
          error: (message) => logger.error(message),
          warn: (message) => logger.warn(message),
          info: (message) => logger.info(message),
          debug: (message) => logger.debug(message),
        },
      })
      server = await adapter.serve({ fetch: app.fetch, hostname: listen.hostname, port: listen.port })
      process.once('SIGINT', () => onSignal('SIGINT'))
      process.once('SIGTERM', () => onSignal('SIGTERM'))
      const host = server.hostname.includes(':') ? `[${server.hostname}]` : server.hostname
      // stdout, always (whatever the log level): scripts and tests read the bound port from it
      process.stdout.write(`layerleak ${environment.version} listening on http://${host}:${server.port} (${adapter.name}, ${database.kind} database ${database.location})\n`)
      if (tokens.length === 0 && !isLoopback(listen.hostname)) {
        logger.warn(`no API token is set and the server listens on ${listen.hostname}: anyone who can reach it can start scans (set LAYERLEAK_API_TOKENS)`)
      }
    } catch (error) {
      const { message } = describeError(error)
      process.stderr.write(`layerleak serve: ${message}\n`)
      process.exitCode = ExitCode.error
      await shutdown()
    }
  },
})
