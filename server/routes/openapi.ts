/**
 * `GET /openapi.json`: an OpenAPI 3.1 document built from the zod schemas the routes validate
 * with (schemas.ts), by zod's own `z.toJSONSchema`. Query parameters are listed from the query
 * schemas' fields, so a parameter added to a schema shows up here without another edit.
 */
import { Hono } from 'hono'
import { z } from 'zod'
import type { AppDeps } from '../app.ts'
import {
  apiSchemas,
  findingsQuerySchema,
  idParamSchema,
  pageQuerySchema,
  repositoryQuerySchema,
  scanQuerySchema,
} from '../schemas.ts'

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` })
const json = (id: string, description: string) => ({ description, content: { 'application/json': { schema: ref(id) } } })
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [String(status), json('Error', ERROR_MEANING[status] ?? 'error')]))
const ERROR_MEANING: Record<number, string> = {
  400: 'invalid request: a malformed field, an unknown field, a local source',
  401: 'a bearer token is required, or the one sent is not valid',
  403: 'the registry host resolves to a private, loopback, link-local or metadata address and is not allowlisted',
  404: 'not found',
  413: 'the request body is too large',
  415: 'the body is not JSON',
  429: 'too many scans: see Retry-After',
  503: 'the database is unavailable or its schema is out of date',
}

/** JSON Schema of one schema, without the document-level keys a component or parameter must not carry. */
const schemaOf = (schema: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _schema, $id: _id, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>
  return rest
}

const queryParameters = (schema: z.ZodObject) =>
  Object.entries(schema.shape).map(([name, field]) => {
    const { description, ...rest } = schemaOf(field as z.ZodType, 'output')
    return { name, in: 'query', required: !(field as z.ZodType).safeParse(undefined).success, ...(description ? { description } : {}), schema: rest }
  })

const idParameter = (name: string, description: string) => ({ name, in: 'path', required: true, description, schema: schemaOf(idParamSchema, 'input') })

export const openApiDocument = (version: string) => {
  const components = z.toJSONSchema(apiSchemas, { uri: (id) => `#/components/schemas/${id}`, io: 'output', unrepresentable: 'any' }).schemas
  for (const schema of Object.values(components)) {
    delete (schema as Record<string, unknown>).$schema
    delete (schema as Record<string, unknown>).$id
  }
  const repositoryParameter = {
    name: 'repository',
    in: 'path',
    required: true,
    description: 'the repository path; it holds slashes and is written as is: /api/v1/repositories/library/alpine/findings',
    schema: { type: 'string' },
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'layerleak',
      version,
      description: 'Find leaked secrets in container images. Every response is redacted: raw secret values are never returned.',
    },
    components: { schemas: components, securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'when LAYERLEAK_API_TOKENS or LAYERLEAK_API_TOKEN_FILE is set' } } },
    security: [{ bearer: [] }, {}],
    paths: {
      '/health': { get: { summary: 'liveness', security: [], responses: { '200': json('Health', 'the server answers') } } },
      '/health/ready': {
        get: { summary: 'readiness: the database answers and its schema is current', security: [], responses: { '200': json('Readiness', 'ready'), ...errors(503) } },
      },
      '/api/v1/scans': {
        post: {
          summary: 'scan an image',
          description: 'Synchronous by default: answers when the scan is done and stored. With ?async=1, answers 202 at once; poll GET /api/v1/scans/{id}.',
          parameters: queryParameters(scanQuerySchema),
          requestBody: { required: true, content: { 'application/json': { schema: ref('ScanRequest') } } },
          responses: {
            '200': json('ScanJob', 'the finished scan: scan_run_id and the redacted result (a scan that failed on the registry side has status failed)'),
            '202': json('ScanJob', 'queued (with ?async=1)'),
            ...errors(400, 401, 403, 413, 415, 429, 503),
          },
        },
      },
      '/api/v1/scans/{id}': {
        get: {
          summary: 'a scan: a scan id of this server, or a stored scan run number',
          parameters: [{ name: 'id', in: 'path', required: true, description: 'a scan id (uuid) or a scan run number', schema: { type: 'string' } }],
          responses: {
            '200': { description: 'the scan job (uuid) or the stored scan run (number)', content: { 'application/json': { schema: { oneOf: [ref('ScanJob'), ref('ScanRunDetail')] } } } },
            ...errors(400, 401, 404),
          },
        },
      },
      '/api/v1/repositories': {
        get: { summary: 'repositories scanned', parameters: queryParameters(pageQuerySchema), responses: { '200': json('RepositoryPage', 'a page of repositories'), ...errors(400, 401) } },
      },
      '/api/v1/repositories/{repository}/scans': {
        get: {
          summary: "a repository's scan runs, newest first",
          parameters: [repositoryParameter, ...queryParameters(repositoryQuerySchema)],
          responses: { '200': json('ScanRunPage', 'a page of scan runs'), ...errors(400, 401, 404) },
        },
      },
      '/api/v1/repositories/{repository}/findings': {
        get: {
          summary: "a repository's findings, most recently seen first",
          parameters: [repositoryParameter, ...queryParameters(findingsQuerySchema)],
          responses: { '200': json('FindingPage', 'a page of findings'), ...errors(400, 401, 404) },
        },
      },
      '/api/v1/findings/{id}': {
        get: {
          summary: 'a finding with every occurrence (layer, path, line, build step, still in the final image)',
          parameters: [idParameter('id', 'finding id')],
          responses: { '200': json('FindingDetail', 'the finding'), ...errors(400, 401, 404) },
        },
      },
    },
  }
}

export const openApiRoutes = (deps: Pick<AppDeps, 'version'>): Hono => {
  const app = new Hono()
  let document: ReturnType<typeof openApiDocument> | undefined
  app.get('/openapi.json', (c) => c.json((document ??= openApiDocument(deps.version))))
  return app
}
