/**
 * Liveness (`/health`: the process answers) and readiness (`/health/ready`: the database answers
 * and its schema is the one this layerleak expects). Both are public, so a load balancer needs
 * no token.
 */
import { Hono } from 'hono'
import { sql } from 'kysely'
import { LayerleakError } from '../../core/errors.ts'
import { assertSchemaCurrent } from '../../plugins/sinks/migrations.ts'
import type { AppDeps } from '../app.ts'
import { jsonError } from '../http-errors.ts'

export const healthRoutes = (deps: Pick<AppDeps, 'database' | 'version' | 'migrationsDir'>): Hono => {
  const app = new Hono()
  app.get('/health', (c) => c.json({ status: 'ok' as const, version: deps.version }))
  app.get('/health/ready', async (c) => {
    try {
      await sql`select 1`.execute(deps.database.db)
    } catch (cause) {
      return jsonError(c, new LayerleakError('DATABASE_ERROR', `the database at ${deps.database.location} does not answer: ${(cause as Error).message}`, { cause }))
    }
    try {
      await assertSchemaCurrent(deps.database.db, { ...(deps.migrationsDir ? { migrationsDir: deps.migrationsDir } : {}), location: deps.database.location })
    } catch (error) {
      return jsonError(c, error)
    }
    return c.json({ status: 'ready' as const, database: deps.database.kind, schema: 'current' as const })
  })
  return app
}
