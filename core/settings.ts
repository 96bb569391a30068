/**
 * Settings: every field validated, every field settable from a `LAYERLEAK_*` environment variable
 * (the table in DESIGN.md), from the config file and from CLI flags; flags win, then the
 * environment, then the file, then the defaults.
 */
import { z } from 'zod'
import { LayerleakError } from './errors.ts'
import { defaultLimits, type Limits } from './limits.ts'
import { type ArchiveLimits, defaultArchiveLimits } from './nested-archives.ts'

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/
const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const

/** `30s`, `2m`, `1h`, `500ms`, or plain milliseconds */
export const parseDuration = (text: string): number => {
  const match = DURATION.exec(text.trim())
  if (!match) throw new Error(`"${text}" is not a duration (use 500ms, 30s, 2m, 1h)`)
  return Math.round(Number(match[1]) * UNITS[(match[2] ?? 'ms') as keyof typeof UNITS])
}

const SIZE = /^(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i
const SIZE_UNITS: Record<string, number> = { b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3 }

/** `1048576`, `512MiB`, `8M`, `1GB` */
export const parseSize = (text: string): number => {
  const match = SIZE.exec(text.trim())
  if (!match) throw new Error(`"${text}" is not a size (use bytes, or 512KiB, 8MiB, 1GiB)`)
  return Number(match[1]) * SIZE_UNITS[(match[2] ?? 'b').toLowerCase()]
}

/** A setting that may arrive as text (environment, flags) or as a value (config file). */
const fromText = <T>(parse: (text: string) => T, schema: z.ZodType<T>) =>
  z
    .unknown()
    .transform((value, ctx) => {
      if (typeof value !== 'string') return value
      try {
        return parse(value)
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message })
        return z.NEVER
      }
    })
    .pipe(schema)

const parseFlag = (text: string): boolean => {
  const value = text.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(value)) return true
  if (['0', 'false', 'no', 'off'].includes(value)) return false
  throw new Error(`"${text}" is not a boolean (use 1 or 0)`)
}
const parseCount = (text: string): number => {
  if (!/^\d+$/.test(text.trim())) throw new Error(`"${text}" is not a whole number`)
  return Number(text)
}

const duration = fromText(parseDuration, z.number().int().positive())
const size = fromText(parseSize, z.number().int().nonnegative())
const flag = fromText(parseFlag, z.boolean())
const count = fromText(parseCount, z.number().int().nonnegative())
const list = fromText((text) => text.split(',').map((item) => item.trim()).filter(Boolean), z.array(z.string()))

export const settingsSchema = z
  .object({
    logLevel: z.enum(['silent', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
    findingsDir: z.string().min(1).default('findings'),
    apiAddr: z.string().regex(/^[^:\s]*:\d+$|^\[[0-9a-f:]+\]:\d+$/i, 'expected host:port').default('127.0.0.1:8080'),
    persistRawSecrets: flag.default(false),
    tagPageSize: fromText(parseCount, z.number().int().min(1).max(10_000)).default(100),
    httpTimeout: duration.default(30_000),
    maxFileBytes: fromText(parseSize, z.number().int().positive('LAYERLEAK_MAX_FILE_BYTES must be greater than zero')).default(defaultLimits.maxFileBytes),
    maxLayerBytes: size.default(defaultLimits.maxLayerBytes),
    maxLayerEntries: count.default(defaultLimits.maxLayerEntries),
    maxManifestBytes: size.default(defaultLimits.maxManifestBytes),
    maxConfigBytes: size.default(defaultLimits.maxConfigBytes),
    maxTagResponseBytes: size.default(defaultLimits.maxTagResponseBytes),
    maxRepositoryTags: count.default(defaultLimits.maxRepositoryTags),
    maxRepositoryTargets: count.default(defaultLimits.maxRepositoryTargets),
    /** the largest archive inside a layer that is opened (jar, zip, tgz...), and the largest member read from one */
    maxArchiveBytes: fromText(parseSize, z.number().int().positive('LAYERLEAK_MAX_ARCHIVE_BYTES must be greater than zero')).default(defaultArchiveLimits.maxArchiveBytes),
    /** members read from one archive (0: no cap) */
    maxArchiveEntries: count.default(defaultArchiveLimits.maxArchiveEntries),
    /** how deep archives inside archives are opened; 0 opens none */
    maxArchiveDepth: fromText(parseCount, z.number().int().min(0).max(16)).default(defaultArchiveLimits.maxArchiveDepth),
    registryRequestAttempts: fromText(parseCount, z.number().int().min(1).max(20)).default(3),
    /** manifest requests in flight per registry host during sweeps */
    maxRequestsPerHost: fromText(parseCount, z.number().int().min(1).max(64)).default(4),
    /** below this many pulls left (RateLimit-Remaining), quota-costing requests slow down; unset: the registry source's default */
    rateLimitLowRemaining: count.optional(),
    /** the pause between quota-costing requests once the quota is low */
    rateLimitSlowDown: duration.optional(),
    /** Docker Hub's web API, for `--namespace` listings (a mirror or a test server elsewhere) */
    hubApiUrl: z.url().default('https://hub.docker.com'),
    registryBaseUrl: z.url().optional(),
    registryAuthUrl: z.url().optional(),
    databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL').optional(),
    dataDir: z.string().min(1).default('.layerleak'),
    insecureRegistries: list.default([]),
    fingerprintKey: z.string().min(1).optional(),
    /** bearer tokens the HTTP API accepts (comma-separated); none means no authentication */
    apiTokens: list.default([]),
    /** a file of API tokens, one a line (`#` comments), read when the server starts */
    apiTokenFile: z.string().min(1).optional(),
    /** registry hosts (`host` or `host:port`) the API may scan although they resolve to private, loopback or link-local addresses */
    allowedPrivateRegistries: list.default([]),
    /** worker threads that scan files while layers are read; unset: one per core but one (at most 8) */
    scanWorkers: fromText(parseCount, z.number().int().min(0).max(64)).optional(),
    /** scans the API runs at once */
    maxConcurrentScans: fromText(parseCount, z.number().int().min(1).max(64)).default(2),
    /** scans the API lets wait for a free slot; beyond them a request gets 429 */
    maxQueuedScans: fromText(parseCount, z.number().int().min(0).max(10_000)).default(16),
  })
  .strict()

export type Settings = z.output<typeof settingsSchema>
export type SettingsInput = z.input<typeof settingsSchema>

/** `maxLayerBytes` -> `LAYERLEAK_MAX_LAYER_BYTES` */
export const envNameOf = (field: string): string => `LAYERLEAK_${field.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`

/** The settings found in an environment (unset and empty variables are left out). */
export const settingsFromEnv = (env: Record<string, string | undefined>): Record<string, string> => {
  const found: Record<string, string> = {}
  for (const field of Object.keys(settingsSchema.shape)) {
    const value = env[envNameOf(field)]
    if (value !== undefined && value !== '') found[field] = value
  }
  return found
}

/** Merges layers of settings (later wins) and validates them, naming the variable or flag at fault. */
export const resolveSettings = (...layers: Array<Record<string, unknown> | undefined>): Settings => {
  const merged: Record<string, unknown> = {}
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer ?? {})) if (value !== undefined) merged[key] = value
  }
  const parsed = settingsSchema.safeParse(merged)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = String(issue.path[0] ?? '')
    const where = field in settingsSchema.shape ? `${field} (${envNameOf(field)})` : field || 'settings'
    throw new LayerleakError('INVALID_CONFIG', `invalid setting ${where}: ${issue.message}`)
  }
  return parsed.data
}

export const limitsOf = (settings: Settings): Limits => ({
  maxFileBytes: settings.maxFileBytes,
  maxLayerBytes: settings.maxLayerBytes,
  maxLayerEntries: settings.maxLayerEntries,
  maxManifestBytes: settings.maxManifestBytes,
  maxConfigBytes: settings.maxConfigBytes,
  maxTagResponseBytes: settings.maxTagResponseBytes,
  maxRepositoryTags: settings.maxRepositoryTags,
  maxRepositoryTargets: settings.maxRepositoryTargets,
})

export const archiveLimitsOf = (settings: Settings): ArchiveLimits => ({
  maxArchiveBytes: settings.maxArchiveBytes,
  maxArchiveEntries: settings.maxArchiveEntries,
  maxArchiveDepth: settings.maxArchiveDepth,
})
