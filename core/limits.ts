/**
 * Caps on what one scan may read. 0 disables a cap (except maxFileBytes, which is the chunk size
 * for large files and must be positive). A positive cap fails closed: the scan stops reading that
 * thing, records a diagnostic and a `limits_hit` entry, and keeps what it already found.
 */
export interface Limits {
  /** files larger than this are scanned in overlapping chunks of this size */
  maxFileBytes: number
  /** decompressed bytes per layer */
  maxLayerBytes: number
  /** tar entries per layer */
  maxLayerEntries: number
  maxManifestBytes: number
  maxConfigBytes: number
  maxTagResponseBytes: number
  maxRepositoryTags: number
  maxRepositoryTargets: number
}

export const defaultLimits: Limits = {
  maxFileBytes: 1_048_576,
  maxLayerBytes: 536_870_912,
  maxLayerEntries: 50_000,
  maxManifestBytes: 4_194_304,
  maxConfigBytes: 8_388_608,
  maxTagResponseBytes: 8_388_608,
  maxRepositoryTags: 0,
  maxRepositoryTargets: 0,
}

/** true when `value` exceeds a positive cap */
export const exceeds = (value: number, cap: number): boolean => cap > 0 && value > cap
