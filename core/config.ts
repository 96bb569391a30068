/**
 * `layerleak.config.ts`: what a user composes. Built-in plugins are on by default; a config adds
 * its own next to them, or replaces a family with `replace: { detectors: true }`.
 */
import { z } from 'zod'
import type { Detector, Filter, Sink, Source } from './contracts.ts'
import { LayerleakError } from './errors.ts'
import { type SettingsInput, settingsSchema } from './settings.ts'

export interface LayerleakConfig {
  sources?: Source[]
  detectors?: Detector[]
  filters?: Filter[]
  sinks?: Sink[]
  /** families whose built-ins are dropped in favour of this config's plugins */
  replace?: { sources?: boolean; detectors?: boolean; filters?: boolean; sinks?: boolean }
  /** the same settings as the LAYERLEAK_* environment variables, in camelCase */
  settings?: SettingsInput
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

export const configSchema = z
  .object({
    sources: z.array(sourceSchema).optional(),
    detectors: z.array(detectorSchema).optional(),
    filters: z.array(filterSchema).optional(),
    sinks: z.array(sinkSchema).optional(),
    replace: z.object({ sources: z.boolean(), detectors: z.boolean(), filters: z.boolean(), sinks: z.boolean() }).partial().strict().optional(),
    settings: settingsSchema.partial().optional(),
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
