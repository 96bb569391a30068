/**
 * A scan worker (plugins/workers/file-scan-pool.ts starts it): builds the TextScanner of the
 * detectors the pool names (built-in, or built by the pool's `detectorsFrom` module), says it is ready, then scans batches of whole files and
 * posts back each file's matches. Batches arrive as one ArrayBuffer with the files' places in it.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { createPrefilter } from '../../core/prefilter.ts'
import { TextScanner } from '../../core/text-scanner.ts'
import { builtinDetectors } from '../detectors/catalog.ts'
import type { Detector } from '../../core/contracts.ts'
import type { BatchReply, DetectorModule, FileBatch, WorkerReady, WorkerSetup } from './file-scan-protocol.ts'

const port = parentPort
if (!port) throw new Error('file-scan-worker runs as a worker thread')

const { detectorIds, detectorsFrom } = workerData as WorkerSetup
// the built-in catalog, or what the pool's module builds (a config's own detectors), picked by id
const available: readonly Detector[] = detectorsFrom ? await ((await import(detectorsFrom.module)) as DetectorModule).default(detectorsFrom.options) : builtinDetectors
const byId = new Map(available.map((detector) => [detector.id, detector]))
const detectors = detectorIds.map((id) => {
  const detector = byId.get(id)
  if (!detector) throw new Error(`file-scan-worker: no detector ${id} ${detectorsFrom ? `from ${detectorsFrom.module}` : 'in the built-in catalog'}`)
  return detector
})
const scanner = new TextScanner(detectors, createPrefilter(detectors))

port.on('message', (batch: FileBatch) => {
  const bytes = new Uint8Array(batch.buffer)
  let reply: BatchReply
  try {
    const results = batch.files.map(({ path, offset, length, windowSize }) => scanner.scanInWindows(bytes.subarray(offset, offset + length), { sourceType: 'file_final', path, key: '' }, windowSize))
    reply = { id: batch.id, results }
  } catch (error) {
    reply = { id: batch.id, error: error instanceof Error ? error.message : String(error) }
  }
  port.postMessage(reply)
})
port.postMessage({ ready: true } satisfies WorkerReady)
