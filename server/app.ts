/**
 * The HTTP API and the pages, as one Hono app. Everything it needs is handed in (database, scan
 * service, tokens), so the same app runs under Node, Bun and Deno (adapters/ serve it) and in
 * tests. JSON errors everywhere under /api, /health and /openapi.json; HTML errors on pages.
 */
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { secureHeaders } from 'hono/secure-headers'
import { LayerleakError } from '../core/errors.ts'
import type { LayerleakDatabase } from '../plugins/sinks/database.ts'
import { requireToken } from './auth.ts'
import { describeHttpError, errorBody, jsonError } from './http-errors.ts'
import { findingRoutes } from './routes/findings.ts'
import { healthRoutes } from './routes/health.ts'
import { openApiRoutes } from './routes/openapi.ts'
import { pageRoutes, renderErrorPage } from './routes/pages.tsx'
import { registerHistoryRoute } from './routes/history.ts'
import { repositoryRoutes } from './routes/repositories.ts'
import { scanRoutes } from './routes/scans.ts'
import type { ScanService } from './scan-service.ts'

export const DEFAULT_BODY_LIMIT = 64 * 1024

export interface AppLogger {
  error(message: string): void
  warn(message: string): void
  info(message: string): void
  debug(message: string): void
}

export interface AppDeps {
  database: LayerleakDatabase
  scans: ScanService
  /** bearer tokens; empty: no authentication */
  tokens?: readonly string[]
  version: string
  logger?: AppLogger
  /** request bodies above this many bytes get 413 (default 64 KiB) */
  bodyLimitBytes?: number
  /** where the migrations the readiness check compares with live (default: the package's) */
  migrationsDir?: string
}

const isApiPath = (path: string): boolean => path.startsWith('/api/') || path === '/api' || path.startsWith('/health') || path === '/openapi.json'
const PUBLIC_PATHS = new Set(['/health', '/health/ready', '/login', '/assets/style.css'])

export const createApp = (deps: AppDeps): Hono => {
  const app = new Hono()
  const tokens = deps.tokens ?? []
  const limit = deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT

  app.use(
    '*',
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
      strictTransportSecurity: false,
    }),
  )
  app.use('*', async (c, next) => {
    await next()
    // results and findings are private to whoever may read them: no shared caches
    if (!c.res.headers.has('cache-control')) c.header('Cache-Control', 'no-store')
  })
  app.use(
    '*',
    requireToken({
      tokens,
      isPublic: (path) => PUBLIC_PATHS.has(path),
      onUnauthorized: (path, reason) => {
        if (!isApiPath(path)) return new Response(null, { status: 303, headers: { location: `/login?next=${encodeURIComponent(path)}` } })
        const message = reason === 'missing' ? 'this API needs a bearer token (Authorization: Bearer <token>)' : 'the bearer token is not valid'
        return Response.json(errorBody('UNAUTHORIZED', message), { status: 401, headers: { 'www-authenticate': `Bearer realm="layerleak"${reason === 'invalid' ? ', error="invalid_token"' : ''}` } })
      },
    }),
  )
  app.use(
    '*',
    bodyLimit({
      maxSize: limit,
      onError: (c) => {
        const failure = new LayerleakError('LIMIT_EXCEEDED', `the request body is larger than ${limit} bytes`)
        return isApiPath(c.req.path) ? jsonError(c, failure) : c.html(renderErrorPage(413, failure.message), 413)
      },
    }),
  )

  app.route('/', healthRoutes(deps))
  app.route('/', scanRoutes(deps))
  // before the repository routes: their `/api/v1/repositories/*` answers 404 for what it does not know
  registerHistoryRoute(app, deps.database)
  app.route('/', repositoryRoutes(deps))
  app.route('/', findingRoutes(deps))
  app.route('/', openApiRoutes(deps))
  app.route('/', pageRoutes({ ...deps, tokens }))

  app.notFound((c) => {
    const message = `no such ${isApiPath(c.req.path) ? 'endpoint' : 'page'}: ${c.req.method} ${c.req.path}`
    return isApiPath(c.req.path) ? c.json(errorBody('NOT_FOUND', message), 404) : c.html(renderErrorPage(404, message), 404)
  })
  app.onError((error, c) => {
    const { status, body } = describeHttpError(error)
    if (status >= 500) deps.logger?.error(`${c.req.method} ${c.req.path}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    return isApiPath(c.req.path) ? jsonError(c, error) : c.html(renderErrorPage(status, body.error.message), status)
  })
  return app
}
