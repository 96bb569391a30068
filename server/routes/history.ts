/**
 * `GET /api/v1/repositories/{repository}/history`: what `layerleak watch` recorded about a
 * repository: tag moves (newest first, `?limit=` at most 200, `?offset=`) with the zombie layers
 * each left behind, their status and findings, and a summary. `?registry=` (default docker.io).
 * The repository name holds slashes, so it is the path between the prefix and `/history`.
 *
 * Mount it before the repositories routes: their `/api/v1/repositories/*` handler answers 404 for
 * any resource but scans and findings. Errors are answered here as the API answers them, so the
 * route works on a bare Hono app too.
 */
import type { Hono } from 'hono'
import { z } from 'zod'
import { LayerleakError } from '../../core/errors.ts'
import type { LayerleakDatabase } from '../../plugins/sinks/database.ts'
import { normalizeRepositoryRef } from '../../plugins/sinks/finding-queries.ts'
import { readRepositoryHistory } from '../../plugins/sinks/history-queries.ts'
import { jsonError } from '../http-errors.ts'
import { withoutRawValues } from '../redaction.ts'
import { parseRepositoryPath } from '../repository-path.ts'
import { parseWith, repositoryQuerySchema } from '../schemas.ts'

const PREFIX = '/api/v1/repositories/'
export const HISTORY_PATH = '/api/v1/repositories/:repository{.+}/history'

const zombieStatus = z.enum(['retrievable', 'scanned', 'failed', 'gone'])
const timestamp = z.string().describe('ISO 8601')

/** The response, for /openapi.json and for tests that hold the route to it. */
export const repositoryHistorySchema = z
  .object({
    registry: z.string(),
    name: z.string(),
    summary: z.object({
      tag_moves: z.number().int(),
      zombie_layers: z.record(zombieStatus, z.number().int()),
      zombie_findings: z.number().int().describe('distinct actionable findings in zombie layers'),
    }),
    items: z.array(
      z.object({
        id: z.number().int(),
        tag: z.string(),
        old_digest: z.string(),
        new_digest: z.string(),
        old_last_seen_at: timestamp.nullable().describe('the tag was last seen at the old digest then: it moved after'),
        moved_at: timestamp.describe('the tag was first seen at the new digest then: it moved at or before'),
        detected_at: timestamp,
        analyzed_at: timestamp.nullable(),
        analysis_note: z.string().nullable(),
        zombie_layers: z.array(
          z.object({
            layer_digest: z.string(),
            media_type: z.string(),
            size: z.number().int().nullable(),
            platform: z.string(),
            layer_index: z.number().int(),
            build_step: z.string(),
            source_manifest_digest: z.string(),
            status: zombieStatus,
            status_detail: z.string().nullable(),
            detected_at: timestamp,
            last_checked_at: timestamp,
            scanned_at: timestamp.nullable(),
            gone_at: timestamp.nullable(),
            findings: z.number().int(),
            suppressed_findings: z.number().int(),
            finding_list: z.array(
              z.object({
                id: z.number().int(),
                detector_name: z.string(),
                confidence: z.enum(['low', 'medium', 'high']),
                disposition: z.enum(['actionable', 'suppressed']),
                redacted_value: z.string(),
                file_path: z.string(),
                line_number: z.number().int(),
              }),
            ),
          }),
        ),
      }),
    ),
    total: z.number().int(),
    limit: z.number().int(),
    offset: z.number().int(),
  })
  .strict()

/** Registers `GET /api/v1/repositories/{repository}/history` on `app`, reading `database`. */
export const registerHistoryRoute = (app: Hono, database: LayerleakDatabase): Hono => {
  app.get(HISTORY_PATH, async (c) => {
    try {
      const { name } = parseRepositoryPath(new URL(c.req.url).pathname, PREFIX, ['history'] as const)
      const query = parseWith(repositoryQuerySchema, c.req.query(), 'query')
      const ref = normalizeRepositoryRef({ name, registry: query.registry?.toLowerCase() })
      const history = await readRepositoryHistory(database.db, ref, query)
      if (!history) throw new LayerleakError('NOT_FOUND', `nothing is recorded about ${ref.registry}/${ref.name}: no scan or watch has seen it`)
      return c.json(withoutRawValues(history))
    } catch (error) {
      return jsonError(c, error)
    }
  })
  return app
}
