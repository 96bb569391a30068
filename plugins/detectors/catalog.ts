/**
 * The built-in detector catalog, in precedence order (specific families before generic rules).
 * Its version is a hash of what the detectors are, so results and the layer cache know when the
 * catalog changed without anyone remembering to bump a number.
 */
import { createHash } from 'node:crypto'
import type { Detector } from '../../core/contracts.ts'
import type { DetectorDefinition } from '../../core/detector.ts'
import { aiDetectors } from './ai.ts'
import { awsDetectors } from './aws.ts'
import { cloudDetectors } from './cloud.ts'
import { databaseDetectors } from './databases.ts'
import { genericDetectors } from './generic.ts'
import { messagingDetectors } from './messaging.ts'
import { observabilityDetectors } from './observability.ts'
import { packageRegistryDetectors } from './package-registries.ts'
import { paymentDetectors } from './payments.ts'
import { privateKeyDetectors } from './private-keys.ts'
import { sourceHostingDetectors } from './source-hosting.ts'
import { structuredFileDetectors } from './structured-files.ts'
import { tokenDetectors } from './tokens.ts'

export const builtinDetectors: DetectorDefinition[] = [
  // credentials files parsed as their format: their reading of a value wins any overlap
  ...structuredFileDetectors,
  ...awsDetectors,
  ...cloudDetectors,
  ...sourceHostingDetectors,
  ...packageRegistryDetectors,
  ...paymentDetectors,
  ...messagingDetectors,
  ...aiDetectors,
  ...observabilityDetectors,
  ...privateKeyDetectors,
  ...databaseDetectors,
  ...tokenDetectors,
  // generic rules last: any specific detector wins the same value
  ...genericDetectors,
]

/**
 * How the text scanner reads (core/text-scanner.ts, core/prefilter.ts): bump it when a change there
 * can make the same detectors find more or less, so layers remembered as scanned are read again.
 * 2: keyword starts for startsAtKeyword detectors, file-format parsers' context by path, windows
 * covering half a text become the whole text.
 */
export const SCAN_ENGINE_VERSION = 2

/** 12 hex characters that change whenever a detector's id, keywords or matching code change, or the way text is scanned. */
export const detectorCatalogVersion = (detectors: readonly Detector[]): string => {
  const hash = createHash('sha256')
  hash.update(`engine ${SCAN_ENGINE_VERSION}\u0000`)
  for (const detector of detectors) hash.update(`${detector.id}\u0000${detector.keywords.join(',')}\u0000${(detector as Partial<DetectorDefinition>).source ?? detector.detect.toString()}\u0000`)
  return hash.digest('hex').slice(0, 12)
}
