/**
 * Everything a command needs to scan or explore, assembled once: settings (flags over environment
 * over config file), the runtime adapter, and the plugins (built-ins plus the config's own).
 */
import type { ConsolaInstance } from 'consola'
import { loadAdapter, type RuntimeAdapter } from '../adapters/runtime.ts'
import { composePlugins, type LayerleakConfig } from '../core/config.ts'
import type { Detector, FileScanPool, Filter, Sink, Source } from '../core/contracts.ts'
import { type Limits } from '../core/limits.ts'
import type { ArchiveLimits, ArchiveReader } from '../core/nested-archives.ts'
import { archiveLimitsOf, limitsOf, resolveSettings, type Settings, settingsFromEnv } from '../core/settings.ts'
import { detectorCatalogVersion } from '../plugins/detectors/catalog.ts'
import { dockerArchiveSource } from '../plugins/sources/docker-archive.ts'
import { builtinArchiveReaders } from '../plugins/sources/nested-archives.ts'
import { ociLayoutSource } from '../plugins/sources/oci-layout.ts'
import { registrySource } from '../plugins/sources/registry.ts'
import { defaultScanWorkers, fileScanPool, type FileScanWorkers } from '../plugins/workers/file-scan-pool.ts'
import { loadDetection } from './detection-setup.ts'
import { loadConfig } from './load-config.ts'
import { createLogger } from './logger.ts'
import type { WorkerDetectorOptions } from './scan-worker-detectors.ts'
import { settingsFromArgs } from './settings-args.ts'
import { packageVersion } from './version.ts'

export interface ScanEnvironment {
  settings: Settings
  limits: Limits
  /** readers for archives inside layers (jar, zip, tgz, gz, zstd...) and their bounds */
  archiveReaders: ArchiveReader[]
  archiveLimits: ArchiveLimits
  logger: ConsolaInstance
  adapter: RuntimeAdapter
  config: LayerleakConfig
  sources: Source[]
  detectors: Detector[]
  filters: Filter[]
  /** the config's own sinks (the findings file is always written by the command) */
  sinks: Sink[]
  catalogVersion: string
  version: string
  /** worker threads for scans (LAYERLEAK_SCAN_WORKERS), started on first use; a config's own detectors are loaded in them from the config file */
  readonly fileScanPool: FileScanPool | undefined
  close(): Promise<void>
}

/** The module workers import for a config's detectors; under vitest (TypeScript sources) its build in dist/. */
const workerDetectorsModule = (): URL =>
  import.meta.url.endsWith('.ts') ? new URL('../dist/cli/scan-worker-detectors.js', import.meta.url) : new URL('./scan-worker-detectors.js', import.meta.url)

export interface EnvironmentOptions {
  args: Record<string, unknown>
  /** registry credentials given on the command line */
  credentials?: { username: string; password: string }
  logLevel?: Settings['logLevel']
}

export const createScanEnvironment = async ({ args, credentials, logLevel }: EnvironmentOptions): Promise<ScanEnvironment> => {
  const { config, path: configPath } = await loadConfig(typeof args.config === 'string' ? args.config : undefined)
  const settings = resolveSettings(config.settings, settingsFromEnv(process.env), settingsFromArgs(args), logLevel ? { logLevel } : undefined)
  const logger = createLogger(settings.logLevel)
  const adapter = await loadAdapter()
  const limits = limitsOf(settings)
  const builtinSources: Source[] = [
    ociLayoutSource(),
    dockerArchiveSource(),
    registrySource({
      fetch: adapter.fetch,
      timeoutMs: settings.httpTimeout,
      attempts: settings.registryRequestAttempts,
      insecureRegistries: settings.insecureRegistries,
      tagPageSize: settings.tagPageSize,
      maxRequestsPerHost: settings.maxRequestsPerHost,
      ...(settings.rateLimitLowRemaining !== undefined ? { rateLimitLowRemaining: settings.rateLimitLowRemaining } : {}),
      ...(settings.rateLimitSlowDown !== undefined ? { rateLimitSlowDownMs: settings.rateLimitSlowDown } : {}),
      ...(settings.registryBaseUrl ? { registryBaseUrl: settings.registryBaseUrl } : {}),
      ...(settings.registryAuthUrl ? { authUrl: settings.registryAuthUrl } : {}),
      ...(credentials ? { username: credentials.username, password: credentials.password } : {}),
      logger: (message: string) => logger.debug(message),
    }),
  ]
  const sources = composePlugins(builtinSources, config.sources, config.replace?.sources, true)
  const { detectors, filters } = await loadDetection({
    config,
    ...(configPath ? { configPath } : {}),
    ...(typeof args.baseline === 'string' ? { baselinePath: args.baseline } : {}),
    ...(settings.fingerprintKey ? { fingerprintKey: settings.fingerprintKey } : {}),
  })
  const sinks = composePlugins<Sink>([], config.sinks, config.replace?.sinks)
  const workers = settings.scanWorkers ?? defaultScanWorkers()
  // started by the first scan that asks: explorer commands never do
  let pool: FileScanWorkers | undefined
  let poolAsked = false
  const poolForScans = (): FileScanWorkers | undefined => {
    if (poolAsked) return pool
    poolAsked = true
    // a config's own detectors: the workers load the config file again (cli/scan-worker-detectors.ts)
    const detectorsFrom = configPath ? { module: workerDetectorsModule(), options: { configPath, cwd: process.cwd() } satisfies WorkerDetectorOptions } : undefined
    pool = workers > 0 ? fileScanPool({ detectors, workers, ...(detectorsFrom ? { detectorsFrom } : {}) }) : undefined
    return pool
  }
  return {
    settings,
    limits,
    archiveReaders: builtinArchiveReaders,
    archiveLimits: archiveLimitsOf(settings),
    logger,
    adapter,
    config,
    sources,
    detectors,
    filters,
    sinks,
    catalogVersion: detectorCatalogVersion(detectors),
    version: packageVersion(),
    get fileScanPool() {
      return poolForScans()
    },
    async close() {
      if (pool) logger.debug(`scan workers: ${pool.scanned.byWorkers} files scanned on ${workers} worker thread${workers === 1 ? '' : 's'}, ${pool.scanned.here} on the main thread`)
      await Promise.allSettled([...[...sources, ...sinks].map((plugin) => plugin.close?.()), pool?.close()])
    },
  }
}
