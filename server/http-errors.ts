/**
 * Errors as the API answers them: `{"error": {"code", "message"}}` with the status the code
 * deserves. Codes are LayerleakError's, so a client handles the same codes the CLI reports.
 */
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { type ErrorCode, LayerleakError, toLayerleakError } from '../core/errors.ts'

const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  INVALID_REFERENCE: 400,
  INVALID_CONFIG: 400,
  INVALID_ARGUMENT: 400,
  LOCKED: 409,
  NOT_FOUND: 404,
  PLATFORM_NOT_FOUND: 404,
  UNAUTHORIZED: 401,
  // the server refuses a host, or the registry refused the server: either way, not allowed
  DENIED: 403,
  LIMIT_EXCEEDED: 413,
  UNSUPPORTED_MEDIA_TYPE: 422,
  UNSUPPORTED_SCHEMA: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  // the registry answered something unusable: a bad gateway from where the client stands
  INVALID_MANIFEST: 502,
  INVALID_ARCHIVE: 502,
  DIGEST_MISMATCH: 502,
  REGISTRY_ERROR: 502,
  NETWORK_ERROR: 502,
  CREDENTIALS_ERROR: 502,
  DATABASE_ERROR: 503,
  SCHEMA_OUT_OF_DATE: 503,
  MIGRATION_ERROR: 503,
  ABORTED: 503,
  TIMEOUT: 504,
}

export const statusOf = (code: ErrorCode): ContentfulStatusCode => STATUS[code] ?? 500

export interface ErrorBody {
  error: { code: string; message: string }
}

export const errorBody = (code: string, message: string): ErrorBody => ({ error: { code, message } })

/** A LayerleakError, a Hono HTTPException (body limit, bad JSON) or anything else, as status and body. */
export const describeHttpError = (error: unknown): { status: ContentfulStatusCode; body: ErrorBody; retryAfter?: number } => {
  if (error instanceof HTTPException) {
    const status = error.status as ContentfulStatusCode
    const code = status === 413 ? 'LIMIT_EXCEEDED' : status === 401 ? 'UNAUTHORIZED' : status === 404 ? 'NOT_FOUND' : status < 500 ? 'INVALID_ARGUMENT' : 'INTERNAL'
    return { status, body: errorBody(code, error.message || (status === 413 ? 'the request body is too large' : 'the request was refused')) }
  }
  const failure = toLayerleakError(error)
  const status = statusOf(failure.code)
  // an unexpected failure's message may hold internals (paths, SQL): say only that it happened
  const message = failure.code === 'INTERNAL' && !(error instanceof LayerleakError) ? 'internal error' : failure.message
  const retryAfter = typeof failure.details.retryAfterSeconds === 'number' ? failure.details.retryAfterSeconds : undefined
  return { status, body: errorBody(failure.code, message), ...(retryAfter !== undefined ? { retryAfter } : {}) }
}

export const jsonError = (c: Context, error: unknown): Response => {
  const { status, body, retryAfter } = describeHttpError(error)
  if (retryAfter !== undefined) c.header('Retry-After', String(retryAfter))
  return c.json(body, status)
}
