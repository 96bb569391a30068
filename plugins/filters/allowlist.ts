/**
 * The user's allowlist (`allowlist` in layerleak.config.ts): paths, values, detectors and
 * fingerprints whose matches are kept as suppressed findings, `allowlisted (path)` and so on, so an
 * accepted risk stays visible in the results without failing the scan.
 */
import type { AllowlistConfig } from '../../core/config.ts'
import type { Filter, MatchContext } from '../../core/contracts.ts'
import { fingerprintOf } from '../../core/redact.ts'
import { filterCacheKey, sha256Hex } from './cache-key.ts'

export interface AllowlistOptions extends AllowlistConfig {
  /** LAYERLEAK_FINGERPRINT_KEY, so fingerprints compare with the ones results report */
  fingerprintKey?: string
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * A path glob as .gitignore reads it: `*` and `?` stay within a path segment, `**` crosses them,
 * `{a,b}` is either. A glob without a slash matches a name at any depth; any glob also matches
 * everything under a directory it names. Nested archive members (`app.jar!inner/x`) count `!` as a
 * directory boundary.
 */
export const globToRegExp = (glob: string): RegExp => {
  const pattern = glob.replace(/^\.?\/+/, '').replace(/\/+$/, '')
  let source = ''
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]
    if (char === '*' && pattern[i + 1] === '*') {
      const slashAfter = pattern[i + 2] === '/'
      source += slashAfter ? '(?:.*[/!])?' : '.*'
      i += slashAfter ? 2 : 1
    } else if (char === '*') source += '[^/!]*'
    else if (char === '?') source += '[^/!]'
    else if (char === '{') {
      const close = pattern.indexOf('}', i)
      if (close === -1) source += '\\{'
      else {
        source += `(?:${pattern.slice(i + 1, close).split(',').map(escapeRegExp).join('|')})`
        i = close
      }
    } else if (char === '/') source += '[/!]'
    else source += escapeRegExp(char)
  }
  const anywhere = !pattern.includes('/')
  return new RegExp(`^${anywhere ? '(?:.*[/!])?' : ''}${source}(?:[/!].*)?$`)
}

/** A user's RegExp, without the `g`/`y` state that would make `test` alternate between calls. */
const stateless = (pattern: RegExp): RegExp => new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''))

const wildcard = (id: string): RegExp => new RegExp(`^${id.split('*').map(escapeRegExp).join('.*')}$`)

export const allowlistFilter = (options: AllowlistOptions): Filter => {
  const paths = (options.paths ?? []).map((entry) => (typeof entry === 'string' ? globToRegExp(entry) : stateless(entry)))
  const exactValues = new Set((options.values ?? []).filter((entry): entry is string => typeof entry === 'string'))
  const valuePatterns = (options.values ?? []).filter((entry): entry is RegExp => entry instanceof RegExp).map(stateless)
  const detectors = (options.detectors ?? []).map(wildcard)
  const fingerprints = new Set(options.fingerprints ?? [])
  const allowlisted = (what: string) => ({ disposition: 'suppressed' as const, reason: `allowlisted (${what})` })
  return {
    name: 'allowlist',
    // the fingerprint key goes in hashed; allowlisted values are hashed with everything else
    cacheKey: filterCacheKey('allowlist', { ...options, fingerprintKey: options.fingerprintKey ? sha256Hex(options.fingerprintKey) : undefined }, allowlistFilter, globToRegExp, stateless, wildcard),
    classify(match: MatchContext) {
      if (detectors.some((pattern) => pattern.test(match.detectorId))) return allowlisted('detector')
      if (match.path && paths.some((pattern) => pattern.test(match.path))) return allowlisted('path')
      if (exactValues.has(match.value) || valuePatterns.some((pattern) => pattern.test(match.value))) return allowlisted('value')
      if (fingerprints.size > 0 && fingerprints.has(fingerprintOf(match.value, options.fingerprintKey))) return allowlisted('fingerprint')
      return undefined
    },
  }
}
