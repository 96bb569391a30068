import type { Diagnostic } from './result.ts'

/** Progress of a scan, for progress bars and logs. Sinks and the CLI subscribe; nothing depends on them. */
export type ScanEvent =
  | { type: 'target'; reference: string; platform: string; manifestDigest: string; layers: number }
  | { type: 'layer-start'; digest: string; index: number; size: number }
  | { type: 'layer-progress'; digest: string; bytes: number; size: number }
  | { type: 'layer-done'; digest: string; files: number; bytes: number; matches: number; cached: boolean; error?: string }
  | { type: 'diagnostic'; diagnostic: Diagnostic }
