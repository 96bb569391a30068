/**
 * Scans: `POST /api/v1/scans` runs one (synchronously, or queued with `?async=1`), and
 * `GET /api/v1/scans/{id}` shows it: a scan id (a job of this server: queued, running, or
 * finished with its result) or a stored scan run's number (its redacted result).
 */
import { Hono } from 'hono'
import { LayerleakError } from '../../core/errors.ts'
import { getScanRun } from '../../plugins/sinks/finding-queries.ts'
import type { AppDeps } from '../app.ts'
import { errorBody, jsonError } from '../http-errors.ts'
import { withoutRawValues } from '../redaction.ts'
import { jobView } from '../scan-service.ts'
import { idParamSchema, parseWith, scanQuerySchema, scanRequestSchema } from '../schemas.ts'

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export const scanRoutes = (deps: Pick<AppDeps, 'database' | 'scans'>): Hono => {
  const app = new Hono()

  app.post('/api/v1/scans', async (c) => {
    const query = parseWith(scanQuerySchema, c.req.query(), 'query')
    const type = c.req.header('content-type') ?? ''
    if (!/^application\/json\s*(;|$)/i.test(type)) return c.json(errorBody('INVALID_ARGUMENT', 'send the scan request as JSON (Content-Type: application/json)'), 415)
    let body: unknown
    try {
      body = await c.req.json()
    } catch {
      throw new LayerleakError('INVALID_ARGUMENT', 'the request body is not valid JSON')
    }
    const request = parseWith(scanRequestSchema, body, 'request body')
    const job = await deps.scans.submit(request)
    c.header('Location', `/api/v1/scans/${job.id}`)
    if (query.async === '1' || query.async === 'true') return c.json(jobView(job), 202)
    await job.done
    if (job.error) return jsonError(c, job.error)
    return c.json(jobView(job), 200)
  })

  app.get('/api/v1/scans/:id', async (c) => {
    const id = c.req.param('id')
    if (JOB_ID.test(id)) {
      const job = deps.scans.get(id)
      if (!job) throw new LayerleakError('NOT_FOUND', `no scan ${id} on this server (finished scans are kept for a while; the stored scan run lasts)`)
      return c.json(jobView(job))
    }
    const runId = parseWith(idParamSchema, id, 'scan id')
    const run = await getScanRun(deps.database.db, runId)
    if (!run) throw new LayerleakError('NOT_FOUND', `no scan run ${runId}`)
    return c.json(withoutRawValues({ ...run, scan_run_id: run.id }))
  })
  return app
}
