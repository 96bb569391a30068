/**
 * Repositories: the list, and a repository's scans and findings (`?registry=` default docker.io,
 * `?disposition=`, `?limit=` at most 200, `?offset=`). The repository comes from a wildcard path,
 * since its name holds slashes (repository-path.ts).
 */
import { Hono } from 'hono'
import { LayerleakError } from '../../core/errors.ts'
import { listRepositories, listRepositoryFindings, listRepositoryScans, normalizeRepositoryRef } from '../../plugins/sinks/finding-queries.ts'
import type { AppDeps } from '../app.ts'
import { withoutRawValues } from '../redaction.ts'
import { parseRepositoryPath } from '../repository-path.ts'
import { findingsQuerySchema, pageQuerySchema, parseWith, repositoryQuerySchema } from '../schemas.ts'

const PREFIX = '/api/v1/repositories/'

export const repositoryRoutes = (deps: Pick<AppDeps, 'database'>): Hono => {
  const app = new Hono()
  const db = deps.database.db

  app.get('/api/v1/repositories', async (c) => {
    const query = parseWith(pageQuerySchema, c.req.query(), 'query')
    return c.json(withoutRawValues(await listRepositories(db, query)))
  })

  app.get(`${PREFIX}*`, async (c) => {
    const { name, resource } = parseRepositoryPath(new URL(c.req.url).pathname, PREFIX, ['scans', 'findings'] as const)
    const query = parseWith(resource === 'scans' ? repositoryQuerySchema : findingsQuerySchema, c.req.query(), 'query')
    const ref = normalizeRepositoryRef({ name, registry: query.registry?.toLowerCase() })
    const page = resource === 'scans' ? await listRepositoryScans(db, ref, query) : await listRepositoryFindings(db, ref, query)
    if (!page) throw new LayerleakError('NOT_FOUND', `no repository ${ref.registry}/${ref.name} has been scanned`)
    return c.json(withoutRawValues(page))
  })
  return app
}
