/** The messages between the file-scan pool and its workers. */
import type { Detector } from '../../core/contracts.ts'
import type { RawMatch } from '../../core/text-scanner.ts'

/** Whole files packed into one buffer: file i is buffer[offset, offset + length), scanned in windows of windowSize. */
export interface FileBatch {
  id: number
  buffer: ArrayBuffer
  files: { path: string; offset: number; length: number; windowSize: number }[]
}

/** Each file's matches, in the batch's order; or why the batch could not be scanned. */
export type BatchReply = { id: number; results: RawMatch[][] } | { id: number; error: string }

/** A module that builds detectors in a worker: its default export, given `options`, resolves to them. */
export interface DetectorModule {
  default: (options: unknown) => Promise<readonly Detector[]> | readonly Detector[]
}

/** workerData: the detectors to scan with, by id, and where to find those that are not built-in */
export interface WorkerSetup {
  detectorIds: string[]
  detectorsFrom?: { module: string; options: unknown }
}

/** Sent once the worker has built its scanner. */
export interface WorkerReady {
  ready: true
}
