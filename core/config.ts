/**
 * `layerleak.config.ts`: what a user composes. Built-in plugins are on by default; a config adds
 * its own next to them, or replaces a family with `replace: { detectors: true }`.
 */
import { z } from 'zod'
import type { Detector, Filter, Sink, Source } from './contracts.ts'
import { LayerleakError } from './errors.ts'
import { type SettingsInput, settingsSchema } from './settings.ts'

/** What a user allowlists: each matching occurrence is suppressed as `allowlisted (path|value|detector|fingerprint)`. */
export interface AllowlistConfig {
  /** globs over the file path (`vendor/**`, `*.pem`, `/opt/app/config.yml`) or regular expressions */
  paths?: (string | RegExp)[]
  /** exact values or regular expressions over the value */
  values?: (string | RegExp)[]
  /** detector ids (`generic-credential`); `*` is a wildcard (`generic-*`) */
  detectors?: string[]
  /** fingerprints as results report them (HMACs when LAYERLEAK_FINGERPRINT_KEY is set) */
  fingerprints?: string[]
}

export interface LayerleakConfig {
  sources?: Source[]
  detectors?: Detector[]
  filters?: Filter[]
  sinks?: Sink[]
  /** families whose built-ins are dropped in favour of this config's plugins */
  replace?: { sources?: boolean; detectors?: boolean; filters?: boolean; sinks?: boolean }
  /** the same settings as the LAYERLEAK_* environment variables, in camelCase */
  settings?: SettingsInput
  allowlist?: AllowlistConfig
  /** a baseline file (`layerleak baseline create`): its fingerprints are suppressed as `in baseline` */
  baseline?: string
  /** gitleaks-format TOML rule files, loaded as detectors; relative paths are from the config file */
  gitleaksRules?: string[]
}

export const defineConfig = <T extends LayerleakConfig>(config: T): T => config

const fn = z.custom<(...args: never[]) => unknown>((value) => typeof value === 'function', 'expected a function')
const named = z.string().min(1, 'needs a name')

const sourceSchema = z.object({ name: named, accepts: fn, resolve: fn }).passthrough()
const detectorSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'detector id must be kebab-case'),
    name: z.string(),
    keywords: z.array(z.string()),
    confidence: z.enum(['low', 'medium', 'high']),
    detect: fn,
  })
  .passthrough()
const filterSchema = z.object({ name: named, classify: fn }).passthrough()
const sinkSchema = z.object({ name: named, write: fn }).passthrough()
const stringOrRegExp = z.union([z.string().min(1, 'must not be empty'), z.instanceof(RegExp)])
export const allowlistSchema = z
  .object({
    paths: z.array(stringOrRegExp).optional(),
    values: z.array(stringOrRegExp).optional(),
    detectors: z.array(z.string().min(1, 'must not be empty')).optional(),
    fingerprints: z.array(z.string().regex(/^[0-9a-f]{64}$/, 'a fingerprint is 64 lower-case hex characters')).optional(),
  })
  .strict()

export const configSchema = z
  .object({
    sources: z.array(sourceSchema).optional(),
    detectors: z.array(detectorSchema).optional(),
    filters: z.array(filterSchema).optional(),
    sinks: z.array(sinkSchema).optional(),
    replace: z.object({ sources: z.boolean(), detectors: z.boolean(), filters: z.boolean(), sinks: z.boolean() }).partial().strict().optional(),
    settings: settingsSchema.partial().optional(),
    allowlist: allowlistSchema.optional(),
    baseline: z.string().min(1, 'expected a file path').optional(),
    gitleaksRules: z.array(z.string().min(1, 'expected a file path')).optional(),
  })
  .strict()

/** Validates a loaded config; `where` names the file in messages. */
export const validateConfig = (value: unknown, where: string): LayerleakConfig => {
  const parsed = configSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new LayerleakError('INVALID_CONFIG', `${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`)
  }
  return value as LayerleakConfig
}

/**
 * Built-ins plus the config's own plugins, or the config's alone where it replaces a family.
 * `ownFirst` puts the config's ahead: sources are chosen by the first that accepts a reference,
 * and the registry source accepts nearly anything.
 */
export const composePlugins = <T>(builtins: T[], own: T[] | undefined, replace: boolean | undefined, ownFirst = false): T[] => {
  if (replace) return [...(own ?? [])]
  return ownFirst ? [...(own ?? []), ...builtins] : [...builtins, ...(own ?? [])]
}
