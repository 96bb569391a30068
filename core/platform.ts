import { LayerleakError } from './errors.ts'
import type { Platform } from './contracts.ts'

/** `linux/arm64/v8`, as users type it and results print it */
export const formatPlatform = (platform: Platform | undefined): string => {
  if (!platform) return ''
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/')
}

export const parsePlatform = (text: string): Platform => {
  const parts = text.trim().split('/')
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !/^[a-z0-9._-]+$/i.test(part))) {
    throw new LayerleakError('INVALID_ARGUMENT', `invalid platform "${text}": expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8`)
  }
  const [os, architecture, variant] = parts
  return variant ? { os, architecture, variant } : { os, architecture }
}

/**
 * Whether an image's platform satisfies what the user asked for. A request without a variant
 * matches any variant; arm64 images often omit `v8`, so that pair is treated as equal.
 */
export const platformMatches = (wanted: Platform, actual: Platform | undefined): boolean => {
  if (!actual) return false
  if (wanted.os !== actual.os || wanted.architecture !== actual.architecture) return false
  if (!wanted.variant) return true
  const normalise = (p: Platform) => (p.architecture === 'arm64' && !p.variant ? 'v8' : p.variant)
  return normalise(wanted) === normalise(actual)
}

/** Attestation manifests and other non-images sit in indexes as `unknown/unknown`. */
export const isRealPlatform = (platform: Platform | undefined): boolean =>
  !!platform && platform.os !== 'unknown' && platform.architecture !== 'unknown'
