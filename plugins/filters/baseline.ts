/**
 * Baselines: the findings a team has already seen and accepted, written once from a findings file
 * (`layerleak baseline create --from result.json`) and suppressed as `in baseline` in later scans,
 * so only new leaks fail a pipeline. A baseline holds fingerprints, never values; they are HMACs
 * when LAYERLEAK_FINGERPRINT_KEY was set, and later scans must use the same key to recognise them.
 */
import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import type { Filter, MatchContext } from '../../core/contracts.ts'
import { LayerleakError } from '../../core/errors.ts'
import { fingerprintOf } from '../../core/redact.ts'
import { filterCacheKey, sha256Hex } from './cache-key.ts'

export const BASELINE_VERSION = 1

const fingerprint = z.string().regex(/^[0-9a-f]{64}$/, 'a fingerprint is 64 lower-case hex characters')

export const baselineSchema = z
  .object({
    version: z.literal(BASELINE_VERSION),
    created_at: z.string(),
    fingerprints: z.array(
      z.object({ fingerprint, detector_name: z.string(), manifest_digest: z.string().optional() }).passthrough(),
    ),
  })
  .passthrough()

export type Baseline = z.output<typeof baselineSchema>
export type BaselineEntry = Baseline['fingerprints'][number]

/** the parts of a findings file a baseline is made from */
const findingsFileSchema = z
  .object({
    findings: z.array(z.object({ fingerprint, detector_name: z.string(), manifest_digest: z.string().optional() }).passthrough()),
    suppressed_findings: z
      .array(z.object({ fingerprint, detector_name: z.string(), manifest_digest: z.string().optional() }).passthrough())
      .optional(),
  })
  .passthrough()

const firstIssue = (error: z.ZodError): string => {
  const issue = error.issues[0]
  return `${issue.path.join('.') || '(root)'}: ${issue.message}`
}

/**
 * A baseline from a findings file (a parsed ScanResult): every finding, actionable and suppressed,
 * once per (fingerprint, manifest).
 */
export const createBaseline = (findingsFile: unknown, now = new Date(), where = 'findings file'): Baseline => {
  const parsed = findingsFileSchema.safeParse(findingsFile)
  if (!parsed.success) throw new LayerleakError('INVALID_ARGUMENT', `${where} is not a layerleak findings file: ${firstIssue(parsed.error)}`)
  const seen = new Set<string>()
  const entries: BaselineEntry[] = []
  for (const finding of [...parsed.data.findings, ...(parsed.data.suppressed_findings ?? [])]) {
    const id = `${finding.fingerprint}\u0000${finding.manifest_digest ?? ''}`
    if (seen.has(id)) continue
    seen.add(id)
    entries.push({
      fingerprint: finding.fingerprint,
      detector_name: finding.detector_name,
      ...(finding.manifest_digest ? { manifest_digest: finding.manifest_digest } : {}),
    })
  }
  entries.sort((a, b) => a.fingerprint.localeCompare(b.fingerprint) || (a.manifest_digest ?? '').localeCompare(b.manifest_digest ?? ''))
  return { version: BASELINE_VERSION, created_at: now.toISOString(), fingerprints: entries }
}

/** Reads and validates a baseline file, naming the file in every error. */
export const readBaseline = async (path: string): Promise<Baseline> => {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new LayerleakError('INVALID_CONFIG', `baseline ${path} cannot be read: ${(cause as Error).message}`, { cause })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    throw new LayerleakError('INVALID_CONFIG', `baseline ${path} is not JSON: ${(cause as Error).message}`, { cause })
  }
  const parsed = baselineSchema.safeParse(json)
  if (!parsed.success) throw new LayerleakError('INVALID_CONFIG', `baseline ${path} is not a layerleak baseline: ${firstIssue(parsed.error)}`)
  return parsed.data
}

export interface BaselineFilterOptions {
  baseline: Baseline
  /** LAYERLEAK_FINGERPRINT_KEY: the filter sees raw values and fingerprints them as the results do */
  fingerprintKey?: string
}

export const baselineFilter = ({ baseline, fingerprintKey }: BaselineFilterOptions): Filter => {
  const known = new Set(baseline.fingerprints.map((entry) => entry.fingerprint))
  return {
    name: 'baseline',
    cacheKey: filterCacheKey('baseline', [...known].sort(), fingerprintKey ? sha256Hex(fingerprintKey) : '', baselineFilter),
    classify(match: MatchContext) {
      if (known.size === 0 || !known.has(fingerprintOf(match.value, fingerprintKey))) return undefined
      return { disposition: 'suppressed', reason: 'in baseline' }
    },
  }
}
