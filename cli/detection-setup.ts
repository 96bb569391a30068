/**
 * The detectors and filters a scan runs with, from the config: the built-in catalog, the config's
 * own detectors and its gitleaks rule files; the allowlist and baseline it declares (or `--baseline`),
 * the canary and fixtures filters, and the config's own filters. `scan` and `detectors list` share
 * it, so the list shows exactly what a scan would run.
 */
import { dirname, resolve } from 'node:path'
import { composePlugins, type LayerleakConfig } from '../core/config.ts'
import type { Detector, Filter } from '../core/contracts.ts'
import { LayerleakError } from '../core/errors.ts'
import { builtinDetectors } from '../plugins/detectors/catalog.ts'
import { loadGitleaksRuleFile } from '../plugins/detectors/gitleaks-rules.ts'
import { allowlistFilter } from '../plugins/filters/allowlist.ts'
import { baselineFilter, readBaseline } from '../plugins/filters/baseline.ts'
import { canaryFilter } from '../plugins/filters/canary.ts'
import { fixturesFilter } from '../plugins/filters/fixtures.ts'

export interface DetectionOptions {
  config: LayerleakConfig
  /** the config file, whose directory relative paths in it are resolved from */
  configPath?: string
  /** `--baseline FILE` (relative to the working directory): wins over the config's */
  baselinePath?: string
  /** LAYERLEAK_FINGERPRINT_KEY, so allowlisted and baselined fingerprints compare with the results' */
  fingerprintKey?: string
  cwd?: string
}

export interface Detection {
  detectors: Detector[]
  filters: Filter[]
  /** where each detector comes from: `built-in`, `config`, or `gitleaks:<file as the config names it>` */
  origins: Map<string, string>
}

export const loadDetection = async (options: DetectionOptions): Promise<Detection> => {
  const { config } = options
  const cwd = options.cwd ?? process.cwd()
  const configDir = options.configPath ? dirname(options.configPath) : cwd
  const origins = new Map<string, string>()
  const describe = (origin: string) => (origin === 'built-in' ? 'the built-in catalog' : origin === 'config' ? 'the config' : origin.replace(/^gitleaks:/, 'gitleaks rules '))
  const claim = (detector: Detector, origin: string) => {
    const earlier = origins.get(detector.id)
    if (earlier) {
      throw new LayerleakError(
        'INVALID_CONFIG',
        `detector id "${detector.id}" from ${describe(origin)} is already taken by a detector from ${describe(earlier)}: rename one (or set replace: { detectors: true } to drop the built-ins)`,
      )
    }
    origins.set(detector.id, origin)
  }

  const own: Detector[] = [...(config.detectors ?? [])]
  const ownOrigins = own.map(() => 'config')
  for (const file of config.gitleaksRules ?? []) {
    const path = resolve(configDir, file)
    for (const detector of await loadGitleaksRuleFile(path)) {
      own.push(detector)
      ownOrigins.push(`gitleaks:${file}`)
    }
  }
  if (!config.replace?.detectors) for (const detector of builtinDetectors) claim(detector, 'built-in')
  own.forEach((detector, i) => claim(detector, ownOrigins[i]))
  const detectors = composePlugins<Detector>(builtinDetectors, own, config.replace?.detectors)

  // what the user declared (allowlist, baseline) speaks first; then canaries and fixtures; then their own filters
  const declared: Filter[] = []
  const key = options.fingerprintKey ? { fingerprintKey: options.fingerprintKey } : {}
  if (config.allowlist) declared.push(allowlistFilter({ ...config.allowlist, ...key }))
  const baselinePath = options.baselinePath ? resolve(cwd, options.baselinePath) : config.baseline ? resolve(configDir, config.baseline) : undefined
  if (baselinePath) declared.push(baselineFilter({ baseline: await readBaseline(baselinePath), ...key }))
  const filters = [...declared, ...composePlugins<Filter>([canaryFilter(), fixturesFilter()], config.filters, config.replace?.filters)]

  return { detectors, filters, origins }
}
