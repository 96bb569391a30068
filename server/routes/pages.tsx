/** @jsxImportSource hono/jsx */
/**
 * The web pages, server-rendered with hono/jsx: no build step, no client script. The scan form
 * posts here (same checks as the API: admission, SSRF guard, queue bound), then the scan's page
 * refreshes itself until the scan is done. Everything shown is redacted.
 */
import { Hono } from 'hono'
import { deleteCookie, setCookie } from 'hono/cookie'
import { csrf } from 'hono/csrf'
import { LayerleakError } from '../../core/errors.ts'
import type { ScanResult } from '../../core/result.ts'
import type { LayerleakDatabase } from '../../plugins/sinks/database.ts'
import { getFinding, getRepository, getScanRun, listRepositories, listRepositoryFindings, listRepositoryScans, normalizeRepositoryRef } from '../../plugins/sinks/finding-queries.ts'
import type { AppDeps } from '../app.ts'
import { TOKEN_COOKIE, tokenIsValid } from '../auth.ts'
import { describeHttpError } from '../http-errors.ts'
import { redactResult } from '../redaction.ts'
import { parseRepositoryPath } from '../repository-path.ts'
import { jobView } from '../scan-service.ts'
import { findingsQuerySchema, idParamSchema, pageQuerySchema, parseWith, scanRequestSchema } from '../schemas.ts'
import { FindingPage } from '../pages/finding.tsx'
import { ErrorPage } from '../pages/layout.tsx'
import { scanHref } from '../pages/links.ts'
import { LoginPage } from '../pages/login.tsx'
import { RepositoriesPage } from '../pages/repositories.tsx'
import { RepositoryPage } from '../pages/repository.tsx'
import { ScanPage } from '../pages/scan.tsx'
import { STYLESHEET } from '../pages/style.ts'

const DOCTYPE = '<!doctype html>'
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
/** rows a scan page lists per table; the repository page pages through the rest */
const SCAN_PAGE_ROWS = 200

export const renderErrorPage = (status: number, message: string): string => DOCTYPE + String(<ErrorPage status={status} message={message} />)

/** The stored ids of a result's findings, to link each row to its page. */
const findingIdsOf = async (database: LayerleakDatabase, result: ScanResult): Promise<Map<string, number>> => {
  const shown = [...result.findings.slice(0, SCAN_PAGE_ROWS), ...result.suppressed_findings.slice(0, SCAN_PAGE_ROWS)]
  if (shown.length === 0) return new Map()
  const rows = await database.db
    .selectFrom('findings')
    .select(['id', 'manifest_digest', 'fingerprint'])
    .where('manifest_digest', 'in', [...new Set(shown.map((finding) => finding.manifest_digest))])
    .where('fingerprint', 'in', [...new Set(shown.map((finding) => finding.fingerprint))])
    .execute()
  return new Map(rows.map((row) => [`${row.manifest_digest}\u0000${row.fingerprint}`, row.id]))
}

const shownOnPage = (result: ScanResult): ScanResult => ({
  ...result,
  findings: result.findings.slice(0, SCAN_PAGE_ROWS),
  suppressed_findings: result.suppressed_findings.slice(0, SCAN_PAGE_ROWS),
})

/** a path on this site only: never `//host` or `https://…` (no open redirect through the login form) */
const localPath = (next: unknown): string => (typeof next === 'string' && /^\/(?![/\\])/.test(next) ? next : '/')

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined)

export const pageRoutes = (deps: Pick<AppDeps, 'database' | 'scans' | 'tokens'>): Hono => {
  const app = new Hono()
  const { database } = deps
  const db = database.db
  const tokens = deps.tokens ?? []
  const forms = csrf()

  app.get('/assets/style.css', (c) => c.body(STYLESHEET, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=300' }))

  app.get('/', async (c) => {
    const query = parseWith(pageQuerySchema, c.req.query(), 'query')
    return c.html(DOCTYPE + String(<RepositoriesPage page={await listRepositories(db, query)} />))
  })

  app.get('/repositories/*', async (c) => {
    const { name } = parseRepositoryPath(new URL(c.req.url).pathname, '/repositories/', [])
    const query = parseWith(findingsQuerySchema, c.req.query(), 'query')
    const ref = normalizeRepositoryRef({ name, registry: query.registry?.toLowerCase() })
    const repository = await getRepository(db, ref)
    if (!repository) throw new LayerleakError('NOT_FOUND', `no repository ${ref.registry}/${ref.name} has been scanned`)
    const disposition = query.disposition ?? 'actionable'
    const [scans, findings] = await Promise.all([
      listRepositoryScans(db, ref, { limit: 20 }),
      listRepositoryFindings(db, ref, { disposition, limit: query.limit ?? 50, offset: query.offset ?? 0 }),
    ])
    if (!scans || !findings) throw new LayerleakError('NOT_FOUND', `no repository ${ref.registry}/${ref.name} has been scanned`)
    return c.html(DOCTYPE + String(<RepositoryPage repository={repository} scans={scans} findings={findings} disposition={disposition} />))
  })

  app.get('/findings/:id', async (c) => {
    const id = parseWith(idParamSchema, c.req.param('id'), 'finding id')
    const finding = await getFinding(db, id)
    if (!finding) throw new LayerleakError('NOT_FOUND', `no finding ${id}`)
    return c.html(DOCTYPE + String(<FindingPage finding={finding} />))
  })

  app.post('/scans', forms, async (c) => {
    const form = await c.req.parseBody()
    const values = { reference: text(form.reference), platform: text(form.platform) }
    try {
      const request = parseWith(scanRequestSchema, { reference: values.reference ?? '', ...(values.platform ? { platform: values.platform } : {}) }, 'form')
      const job = await deps.scans.submit(request)
      return c.redirect(scanHref(job.id), 303)
    } catch (error) {
      const { status, body, retryAfter } = describeHttpError(error)
      if (retryAfter !== undefined) c.header('Retry-After', String(retryAfter))
      const page = await listRepositories(db, {})
      return c.html(DOCTYPE + String(<RepositoriesPage page={page} form={{ ...values, error: body.error.message }} />), status)
    }
  })

  app.get('/scans/:id', async (c) => {
    const id = c.req.param('id')
    if (JOB_ID.test(id)) {
      const job = deps.scans.get(id)
      if (!job) throw new LayerleakError('NOT_FOUND', `no scan ${id} on this server any more: see the repository's scans`)
      const view = jobView(job)
      const findingIds = view.result && view.scan_run_id ? await findingIdsOf(database, view.result) : new Map<string, number>()
      return c.html(DOCTYPE + String(<ScanPage view={{ ...view, result: view.result && shownOnPage(view.result) }} findingIds={findingIds} />))
    }
    const runId = parseWith(idParamSchema, id, 'scan run')
    const run = await getScanRun(db, runId)
    if (!run) throw new LayerleakError('NOT_FOUND', `no scan run ${runId}`)
    const result = redactResult(run.result)
    const view = { id: run.id, status: run.status, reference: run.requested_reference, started_at: run.started_at, finished_at: run.finished_at, scan_run_id: run.id, error: null, result: shownOnPage(result) }
    return c.html(DOCTYPE + String(<ScanPage view={view} findingIds={await findingIdsOf(database, result)} />))
  })

  app.get('/login', (c) => {
    if (tokens.length === 0) return c.redirect('/', 303)
    return c.html(DOCTYPE + String(<LoginPage next={localPath(c.req.query('next'))} />))
  })

  app.post('/login', forms, async (c) => {
    const form = await c.req.parseBody()
    const next = localPath(form.next)
    if (tokens.length === 0) return c.redirect(next, 303)
    const token = typeof form.token === 'string' ? form.token.trim() : ''
    if (!tokenIsValid(tokens, token)) return c.html(DOCTYPE + String(<LoginPage next={next} error="That token is not valid." />), 401)
    setCookie(c, TOKEN_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/', secure: new URL(c.req.url).protocol === 'https:', maxAge: 12 * 3600 })
    return c.redirect(next, 303)
  })

  app.post('/logout', forms, (c) => {
    deleteCookie(c, TOKEN_COOKIE, { path: '/' })
    return c.redirect('/login', 303)
  })

  return app
}
