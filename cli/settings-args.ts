/**
 * Every setting as a CLI flag (`--max-layer-bytes 64MiB`), generated from the settings schema so
 * flags, environment variables and config keys can never drift apart.
 */
import { envNameOf, settingsSchema } from '../core/settings.ts'

const kebab = (field: string) => field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

/** settings the scan command exposes under a different, friendlier flag */
const OWN_FLAGS = new Set(['logLevel'])

export const settingsArgs = Object.fromEntries(
  Object.keys(settingsSchema.shape)
    .filter((field) => !OWN_FLAGS.has(field))
    .map((field) => [kebab(field), { type: 'string' as const, description: `same as ${envNameOf(field)}`, valueHint: 'value' }]),
) as Record<string, { type: 'string'; description: string; valueHint: string }>

/** The settings given as flags, camelCased for resolveSettings. */
export const settingsFromArgs = (args: Record<string, unknown>): Record<string, unknown> => {
  const found: Record<string, unknown> = {}
  for (const field of Object.keys(settingsSchema.shape)) {
    const value = args[kebab(field)]
    if (value !== undefined && value !== '') found[field] = value
  }
  return found
}
