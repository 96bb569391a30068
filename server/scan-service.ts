/**
 * Scans as the API runs them: admitted (local sources and refused hosts never start), queued
 * within the bounds, scanned, and persisted through the Postgres sink into the shared database.
 * The job view is what `GET /api/v1/scans/{id}` answers while a scan is queued or running and
 * right after; the stored scan run is what lasts.
 */
import type { Sink } from '../core/contracts.ts'
import type { ScanResult } from '../core/result.ts'
import type { LayerleakDatabase } from '../plugins/sinks/database.ts'
import { postgresSink } from '../plugins/sinks/postgres.ts'
import type { ApiScanner } from './api-scanner.ts'
import { describeHttpError } from './http-errors.ts'
import { redactResult } from './redaction.ts'
import { createScanQueue, type ScanJob } from './scan-queue.ts'
import type { ScanRequest } from './schemas.ts'

export interface ScanOutput {
  result: ScanResult
  scanRunId: number
}

export type ApiScanJob = ScanJob<ScanRequest, ScanOutput>

export interface ScanServiceOptions {
  database: LayerleakDatabase
  scanner: ApiScanner
  maxConcurrent: number
  maxQueued: number
  /** the config's own sinks, written after the database (failures are logged, not fatal) */
  sinks?: Sink[]
  logger?: { warn(message: string): void; debug(message: string): void }
}

export interface ScanService {
  /** Admits and queues a scan; throws 400/403/429-class errors before anything runs. */
  submit(request: ScanRequest): Promise<ApiScanJob>
  get(id: string): ApiScanJob | undefined
  stats(): { running: number; queued: number; maxConcurrent: number; maxQueued: number }
  close(): Promise<void>
}

export const createScanService = (options: ScanServiceOptions): ScanService => {
  const queue = createScanQueue<ScanRequest, ScanOutput>({
    maxConcurrent: options.maxConcurrent,
    maxQueued: options.maxQueued,
    statusOf: (output) => output.result.status,
    run: async (request, signal) => {
      // one sink a scan: it learns from this scan's events which layers were read in full
      const sink = postgresSink({ database: options.database })
      const result = await options.scanner.scan(request, { signal, onEvent: (event) => sink.onEvent(event) })
      const { scanRunId } = await sink.write(result)
      for (const extra of options.sinks ?? []) {
        await extra.write(result).catch((error: unknown) => options.logger?.warn(`sink ${extra.name}: ${(error as Error).message}`))
      }
      options.logger?.debug(`scan of ${request.reference}: ${result.status}, ${result.total_findings} findings, scan_run ${scanRunId}`)
      return { result, scanRunId }
    },
  })
  return {
    async submit(request) {
      await options.scanner.admit(request)
      return queue.submit(request)
    },
    get: (id) => queue.get(id),
    stats: () => queue.stats(),
    close: () => queue.close(),
  }
}

const iso = (date: Date | undefined): string | null => (date ? date.toISOString() : null)

/** The job as the API shows it (schemas.ts scanJobSchema): redacted, whatever the scan kept. */
export const jobView = (job: ApiScanJob) => ({
  id: job.id,
  status: job.status,
  reference: job.input.reference,
  platform: job.input.platform ?? null,
  all_tags: job.input.all_tags ?? false,
  queued_at: job.queuedAt.toISOString(),
  started_at: iso(job.startedAt),
  finished_at: iso(job.finishedAt),
  scan_run_id: job.output?.scanRunId ?? null,
  error: job.error ? describeHttpError(job.error).body.error : null,
  result: job.output ? redactResult(job.output.result) : null,
})
