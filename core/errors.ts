/**
 * The one error class layerleak throws. `code` is stable (tests, the CLI's exit codes and the API's
 * error bodies depend on it); `message` is for people; `cause` keeps whatever went wrong underneath.
 */
export type ErrorCode =
  | 'INVALID_REFERENCE'
  | 'INVALID_CONFIG'
  | 'INVALID_ARGUMENT'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'UNSUPPORTED_SCHEMA'
  | 'INVALID_MANIFEST'
  | 'INVALID_ARCHIVE'
  | 'NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'RATE_LIMITED'
  | 'REGISTRY_ERROR'
  | 'NETWORK_ERROR'
  | 'TIMEOUT'
  | 'DIGEST_MISMATCH'
  | 'LIMIT_EXCEEDED'
  | 'PLATFORM_NOT_FOUND'
  | 'CREDENTIALS_ERROR'
  | 'DATABASE_ERROR'
  | 'SCHEMA_OUT_OF_DATE'
  | 'MIGRATION_ERROR'
  /** another process holds what this one needs (a pull's partial download) */
  | 'LOCKED'
  | 'ABORTED'
  | 'INTERNAL'

export class LayerleakError extends Error {
  override readonly name = 'LayerleakError'
  readonly code: ErrorCode
  /** Extra machine-readable facts (status code, limit name, digest...) for diagnostics. */
  readonly details: Record<string, unknown>

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.details = options.details ?? {}
  }
}

export const isLayerleakError = (error: unknown, code?: ErrorCode): error is LayerleakError =>
  error instanceof LayerleakError && (code === undefined || error.code === code)

/** Wraps anything thrown into a LayerleakError, keeping one that already is. */
export const toLayerleakError = (error: unknown, fallback: ErrorCode = 'INTERNAL'): LayerleakError => {
  if (error instanceof LayerleakError) return error
  if (error instanceof Error && error.name === 'AbortError') return new LayerleakError('ABORTED', 'the operation was aborted', { cause: error })
  const message = error instanceof Error ? error.message : String(error)
  return new LayerleakError(fallback, message, { cause: error })
}
