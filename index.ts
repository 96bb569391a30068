/**
 * layerleak as a library: the contracts to write plugins against, the define helpers for
 * `layerleak.config.ts`, the scan pipeline, and the built-in plugins.
 */
export * from './core/contracts.ts'
export type * from './core/result.ts'
export { RESULT_SCHEMA_VERSION } from './core/result.ts'
export { defineConfig, type LayerleakConfig } from './core/config.ts'
export { defineDetector, type DetectorSpec, type DetectorDefinition } from './core/detector.ts'
export { LayerleakError, type ErrorCode } from './core/errors.ts'
export { defaultLimits, type Limits } from './core/limits.ts'
export { scanReference, type ScanOptions } from './core/scan.ts'
export type { ScanEvent } from './core/events.ts'
export { fixturesFilter } from './plugins/filters/fixtures.ts'
export { jsonFileSink } from './plugins/sinks/json-file.ts'
export { sarifFileSink, toSarif } from './plugins/sinks/sarif.ts'
