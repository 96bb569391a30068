/**
 * The server's scans: a bounded number run at once, a bounded number wait, and beyond that a
 * request is refused with RATE_LIMITED and a Retry-After estimate (recent scan durations times
 * the work ahead). Jobs are kept in memory, finished ones up to a cap, so `GET /api/v1/scans/{id}`
 * can answer for a scan still queued or running; what lasts is the scan run in the database.
 */
import { randomUUID } from 'node:crypto'
import { LayerleakError, toLayerleakError } from '../core/errors.ts'
import type { ScanStatus } from '../core/result.ts'

export type JobStatus = 'queued' | 'running' | ScanStatus

export interface ScanJob<Input, Output> {
  id: string
  input: Input
  status: JobStatus
  queuedAt: Date
  startedAt?: Date
  finishedAt?: Date
  output?: Output
  error?: LayerleakError
  /** settles (never rejects) when the job has finished, whatever the outcome */
  done: Promise<void>
}

export interface ScanQueueOptions<Input, Output> {
  maxConcurrent: number
  maxQueued: number
  /** the work; the signal aborts when the queue closes */
  run: (input: Input, signal: AbortSignal) => Promise<Output>
  /** the finished job's status from its output (completed, partial, failed) */
  statusOf: (output: Output) => ScanStatus
  /** finished jobs remembered (default 500); the oldest are forgotten first */
  keepFinished?: number
  now?: () => Date
}

export interface ScanQueue<Input, Output> {
  /** Queues a job, or throws RATE_LIMITED (details.retryAfterSeconds) when the queue is full. */
  submit(input: Input): ScanJob<Input, Output>
  get(id: string): ScanJob<Input, Output> | undefined
  stats(): { running: number; queued: number; maxConcurrent: number; maxQueued: number }
  /** Refuses new jobs, fails the queued ones and aborts the running ones; resolves when they have stopped. */
  close(): Promise<void>
}

/** seconds a caller should wait when nothing is known about scan durations yet */
const DEFAULT_RETRY_AFTER = 5
const MAX_RETRY_AFTER = 300
const DURATION_SAMPLES = 20

export const createScanQueue = <Input, Output>(options: ScanQueueOptions<Input, Output>): ScanQueue<Input, Output> => {
  const now = options.now ?? (() => new Date())
  const keepFinished = options.keepFinished ?? 500
  const jobs = new Map<string, ScanJob<Input, Output>>()
  const waiting: Array<{ job: ScanJob<Input, Output>; start: () => void }> = []
  const finished: string[] = []
  const durations: number[] = []
  const controller = new AbortController()
  const settled = new Set<Promise<void>>()
  let running = 0
  let closed = false

  const retryAfterSeconds = (): number => {
    if (durations.length === 0) return DEFAULT_RETRY_AFTER
    const average = durations.reduce((sum, ms) => sum + ms, 0) / durations.length / 1000
    // a running scan is half done on average; the waiting ones each need a slot after it
    return Math.min(MAX_RETRY_AFTER, Math.max(1, Math.ceil(average * (0.5 + waiting.length / options.maxConcurrent))))
  }

  const remember = (job: ScanJob<Input, Output>) => {
    finished.push(job.id)
    while (finished.length > keepFinished) jobs.delete(finished.shift() as string)
  }

  const next = () => {
    while (running < options.maxConcurrent && waiting.length > 0) (waiting.shift() as { start: () => void }).start()
  }

  const execute = async (job: ScanJob<Input, Output>): Promise<void> => {
    running++
    job.status = 'running'
    job.startedAt = now()
    try {
      if (controller.signal.aborted) throw new LayerleakError('ABORTED', 'the server is shutting down')
      job.output = await options.run(job.input, controller.signal)
      job.status = options.statusOf(job.output)
    } catch (error) {
      job.error = controller.signal.aborted ? new LayerleakError('ABORTED', 'the server is shutting down: the scan was stopped', { cause: error }) : toLayerleakError(error)
      job.status = 'failed'
    } finally {
      job.finishedAt = now()
      durations.push(job.finishedAt.getTime() - (job.startedAt as Date).getTime())
      if (durations.length > DURATION_SAMPLES) durations.shift()
      running--
      remember(job)
      next()
    }
  }

  return {
    submit(input) {
      if (closed) throw new LayerleakError('ABORTED', 'the server is shutting down: no new scans')
      if (running >= options.maxConcurrent && waiting.length >= options.maxQueued) {
        const retryAfter = retryAfterSeconds()
        throw new LayerleakError(
          'RATE_LIMITED',
          `too many scans: ${running} running and ${waiting.length} waiting (LAYERLEAK_MAX_CONCURRENT_SCANS=${options.maxConcurrent}, LAYERLEAK_MAX_QUEUED_SCANS=${options.maxQueued}); retry in ${retryAfter}s`,
          { details: { retryAfterSeconds: retryAfter } },
        )
      }
      let start!: () => void
      const started = new Promise<void>((resolve) => (start = resolve))
      const job: ScanJob<Input, Output> = { id: randomUUID(), input, status: 'queued', queuedAt: now(), done: Promise.resolve() }
      job.done = started.then(() => execute(job))
      settled.add(job.done)
      void job.done.finally(() => settled.delete(job.done))
      jobs.set(job.id, job)
      waiting.push({ job, start })
      next()
      return job
    },
    get: (id) => jobs.get(id),
    stats: () => ({ running, queued: waiting.length, maxConcurrent: options.maxConcurrent, maxQueued: options.maxQueued }),
    async close() {
      closed = true
      controller.abort(new LayerleakError('ABORTED', 'the server is shutting down'))
      // queued jobs start and fail at once on the aborted signal
      for (const { start } of waiting.splice(0)) start()
      await Promise.allSettled([...settled])
    },
  }
}
