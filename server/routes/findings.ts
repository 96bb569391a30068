/** `GET /api/v1/findings/{id}`: one stored finding with every occurrence, redacted. */
import { Hono } from 'hono'
import { LayerleakError } from '../../core/errors.ts'
import { getFinding } from '../../plugins/sinks/finding-queries.ts'
import type { AppDeps } from '../app.ts'
import { withoutRawValues } from '../redaction.ts'
import { idParamSchema, parseWith } from '../schemas.ts'

export const findingRoutes = (deps: Pick<AppDeps, 'database'>): Hono => {
  const app = new Hono()
  app.get('/api/v1/findings/:id', async (c) => {
    const id = parseWith(idParamSchema, c.req.param('id'), 'finding id')
    const finding = await getFinding(deps.database.db, id)
    if (!finding) throw new LayerleakError('NOT_FOUND', `no finding ${id}`)
    return c.json(withoutRawValues(finding))
  })
  return app
}
