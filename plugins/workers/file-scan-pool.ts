/**
 * Scans files on worker threads while the main thread reads the layers: decompression runs on
 * libuv's pool, tar parsing on the main thread, and the detectors (most of the work) on one
 * worker per spare core. Files are packed into batches of about a megabyte (one message each),
 * posted as copies, and kept until the worker answers: a worker that dies or never starts costs
 * nothing but time, its files are scanned on the main thread instead. So are files that come
 * before any worker is ready: a small image never waits for one to load.
 *
 * Workers build their own detectors from the built-in catalog, by id, or, for a config's own
 * detectors and gitleaks rules, from a module the caller names (`detectorsFrom`; the CLI's loads
 * the config file again). Without one, a scan whose detectors are not all built-in gets undefined.
 * node:worker_threads is implemented by Node, Bun and Deno alike.
 */
import { availableParallelism } from 'node:os'
import process from 'node:process'
import { setImmediate } from 'node:timers'
import { Worker } from 'node:worker_threads'
import type { Detector, FileScanPool } from '../../core/contracts.ts'
import { LayerleakError } from '../../core/errors.ts'
import { createPrefilter } from '../../core/prefilter.ts'
import { type RawMatch, TextScanner } from '../../core/text-scanner.ts'
import { builtinDetectors } from '../detectors/catalog.ts'
import type { BatchReply, FileBatch, WorkerReady, WorkerSetup } from './file-scan-protocol.ts'

export interface FileScanPoolOptions {
  detectors: readonly Detector[]
  /** worker threads; default one per core but one (the main thread reads the layers), at least one */
  workers?: number
  /** the worker's module; default file-scan-worker.js beside this one (in dist/) */
  workerUrl?: URL
  /** bytes handed over and not yet scanned before capacity() waits; default 64 MiB */
  maxBacklogBytes?: number
  /**
   * Where workers get detectors that are not built-in (a config's own, gitleaks rules): a module
   * whose default export, called with `options` (structured-cloneable), resolves to them. The
   * workers pick `detectors` from it by id; a module that lacks one fails them (files are then
   * scanned on the calling thread).
   */
  detectorsFrom?: { module: URL; options: unknown }
}

/** A pool of scan workers; close() stops them (Deno and Bun wait for live workers before exiting). */
export interface FileScanWorkers extends FileScanPool {
  /** workers running now (0 once it fell back to the main thread) */
  readonly workerCount: number
  /**
   * Settles once every worker has started or failed, with the number started. Until a worker is
   * ready, files are scanned on the calling thread: nothing waits for them.
   */
  readonly ready: Promise<number>
  /** files scanned so far: by the workers, and on the calling thread (workers that failed or never started) */
  readonly scanned: { byWorkers: number; here: number }
  close(): Promise<void>
}

/** a batch is posted once it holds this much, or when the main thread next yields (setImmediate) */
const BATCH_BYTES = 1024 * 1024
const DEFAULT_BACKLOG = 64 * 1024 * 1024
const SPARE_BUFFERS = 16

interface PendingFile {
  path: string
  offset: number
  length: number
  windowSize: number
  resolve: (matches: RawMatch[]) => void
  reject: (error: Error) => void
}

interface Batch {
  id: number
  buffer: ArrayBuffer
  size: number
  files: PendingFile[]
}

interface WorkerSlot {
  worker: Worker
  ready: boolean
  /** batches posted and not answered */
  batches: Map<number, Batch>
  bytes: number
}

/**
 * Under vitest the modules are TypeScript sources, which Node 20 cannot start as a worker: the
 * built worker in dist/ (npm test builds first) scans with the same code.
 */
const defaultWorkerUrl = (): URL =>
  import.meta.url.endsWith('.ts') ? new URL('../../dist/plugins/workers/file-scan-worker.js', import.meta.url) : new URL('./file-scan-worker.js', import.meta.url)

const isBuiltin = new Set<Detector>(builtinDetectors)

/**
 * One worker per core but one (the main thread reads the layers and zlib inflates beside it), at
 * most 8; none on a single core, where a worker would only take turns with the main thread.
 */
export const defaultScanWorkers = (cores = availableParallelism()): number => Math.min(8, Math.max(0, cores - 1))

/** A pool for these detectors, or undefined when a worker could not rebuild them (not all built-in, and no `detectorsFrom`). */
export const fileScanPool = (options: FileScanPoolOptions): FileScanWorkers | undefined => {
  const { detectors } = options
  const builtin = detectors.every((detector) => isBuiltin.has(detector))
  if (detectors.length === 0 || (!builtin && !options.detectorsFrom)) return undefined
  const setup: WorkerSetup = {
    detectorIds: detectors.map((detector) => detector.id),
    ...(!builtin && options.detectorsFrom ? { detectorsFrom: { module: options.detectorsFrom.module.href, options: options.detectorsFrom.options } } : {}),
  }
  const requested = Math.max(1, Math.floor(options.workers ?? availableParallelism() - 1))
  const maxBacklog = options.maxBacklogBytes ?? DEFAULT_BACKLOG

  let fallback: TextScanner | undefined
  const scanned = { byWorkers: 0, here: 0 }
  const scanHere = (batch: Batch) => {
    scanned.here += batch.files.length
    fallback ??= new TextScanner(detectors, createPrefilter(detectors))
    const bytes = new Uint8Array(batch.buffer)
    for (const file of batch.files) {
      try {
        file.resolve(fallback.scanInWindows(bytes.subarray(file.offset, file.offset + file.length), { sourceType: 'file_final', path: file.path, key: '' }, file.windowSize))
      } catch (error) {
        file.reject(error instanceof Error ? error : new Error(String(error)))
      }
    }
    settled(batch)
  }

  let closed = false
  let nextId = 1
  let backlog = 0
  let waiters: (() => void)[] = []
  /** close() waiting for the batches in flight: woken whenever a batch settles */
  let idle: (() => void)[] = []
  const slots: WorkerSlot[] = []

  /** batch buffers already answered for: reused, so a scan does not allocate (and collect) its size again */
  const spare: ArrayBuffer[] = []
  const settled = (batch: Batch) => {
    if (batch.buffer.byteLength === BATCH_BYTES && spare.length < SPARE_BUFFERS) spare.push(batch.buffer)
    backlog -= batch.size
    if (idle.length > 0) {
      const wake = idle
      idle = []
      for (const resolve of wake) resolve()
    }
    if (backlog < maxBacklog && waiters.length > 0) {
      const wake = waiters
      waiters = []
      for (const resolve of wake) resolve()
    }
  }

  /** a live worker keeps the process alive only while it has work */
  const holdOpen = (slot: WorkerSlot) => {
    if (slot.batches.size > 0) slot.worker.ref?.()
    else slot.worker.unref?.()
  }

  const post = (slot: WorkerSlot, batch: Batch) => {
    slot.batches.set(batch.id, batch)
    slot.bytes += batch.size
    holdOpen(slot)
    const message: FileBatch = { id: batch.id, buffer: batch.buffer, files: batch.files.map(({ path, offset, length, windowSize }) => ({ path, offset, length, windowSize })) }
    slot.worker.postMessage(message)
  }

  const dispatch = (batch: Batch) => {
    const ready = slots.filter((slot) => slot.ready)
    // no worker ready yet (they take ~0.1-0.2 s to load the catalog): a small image is done by then
    if (ready.length === 0) {
      scanHere(batch)
      return
    }
    post(ready.reduce((least, slot) => (slot.bytes < least.bytes ? slot : least)), batch)
  }

  /** a worker that failed: its batches are scanned here */
  const drop = (slot: WorkerSlot) => {
    const at = slots.indexOf(slot)
    if (at === -1) return
    slots.splice(at, 1)
    slot.worker.removeAllListeners()
    void slot.worker.terminate().catch(() => {})
    for (const batch of slot.batches.values()) scanHere(batch)
    slot.batches.clear()
    starting(slot, false)
  }

  // settles once every worker is ready or has failed, with the number ready
  let readyCount = 0
  let allStarted: (count: number) => void = () => {}
  const ready = new Promise<number>((resolve) => (allStarted = resolve))
  const startingSlots = new Set<WorkerSlot>()
  const starting = (slot: WorkerSlot, ok: boolean) => {
    if (!startingSlots.delete(slot)) return
    if (ok) readyCount++
    if (startingSlots.size === 0) allStarted(readyCount)
  }

  for (let i = 0; i < requested; i++) {
    let worker: Worker
    try {
      // the worker inherits the process's flags, but --input-type (node -e scripts) stops it loading a file
      const execArgv = process.execArgv.filter((flag) => !flag.startsWith('--input-type'))
      worker = new Worker(options.workerUrl ?? defaultWorkerUrl(), { workerData: setup, execArgv })
    } catch {
      break
    }
    const slot: WorkerSlot = { worker, ready: false, batches: new Map(), bytes: 0 }
    slots.push(slot)
    startingSlots.add(slot)
    worker.unref?.()
    worker.on('message', (message: BatchReply | WorkerReady) => {
      if ('ready' in message) {
        slot.ready = true
        starting(slot, true)
        return
      }
      const batch = slot.batches.get(message.id)
      if (!batch) return
      slot.batches.delete(message.id)
      slot.bytes -= batch.size
      holdOpen(slot)
      if ('error' in message) {
        const failure = new LayerleakError('INTERNAL', `scan worker: ${message.error}`)
        for (const file of batch.files) file.reject(failure)
      } else {
        scanned.byWorkers += batch.files.length
        batch.files.forEach((file, i) => file.resolve(message.results[i] ?? []))
      }
      settled(batch)
    })
    worker.on('error', () => drop(slot))
    worker.on('exit', () => {
      if (!closed) drop(slot)
    })
  }

  if (startingSlots.size === 0) allStarted(0)

  let current: Batch | undefined
  let flushScheduled = false
  const flush = () => {
    flushScheduled = false
    const batch = current
    current = undefined
    if (batch && batch.files.length > 0) dispatch(batch)
  }

  return {
    get workerCount() {
      return slots.length
    },
    ready,
    get scanned() {
      return { ...scanned }
    },

    scan(bytes, path, windowSize) {
      if (closed) return Promise.reject(new LayerleakError('ABORTED', 'the file-scan pool is closed'))
      return new Promise<RawMatch[]>((resolve, reject) => {
        if (current && current.size + bytes.byteLength > current.buffer.byteLength) flush()
        if (!current) current = { id: nextId++, buffer: (bytes.byteLength <= BATCH_BYTES && spare.pop()) || new ArrayBuffer(Math.max(BATCH_BYTES, bytes.byteLength)), size: 0, files: [] }
        new Uint8Array(current.buffer, current.size, bytes.byteLength).set(bytes)
        current.files.push({ path, offset: current.size, length: bytes.byteLength, windowSize, resolve, reject })
        current.size += bytes.byteLength
        backlog += bytes.byteLength
        if (current.size >= BATCH_BYTES) flush()
        else if (!flushScheduled) {
          flushScheduled = true
          setImmediate(flush)
        }
      })
    },

    capacity() {
      if (backlog < maxBacklog) return Promise.resolve()
      flush()
      return new Promise<void>((resolve) => waiters.push(resolve))
    },

    async close() {
      closed = true
      flush()
      // what is still in flight finishes first (a worker that dies meanwhile hands its batches back)
      while (slots.some((slot) => slot.batches.size > 0)) await new Promise<void>((resolve) => idle.push(resolve))
      await Promise.all(slots.splice(0).map((slot) => slot.worker.terminate().catch(() => 0)))
    },
  }
}
