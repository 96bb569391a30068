/**
 * Turns a registry's non-2xx answer into a LayerleakError with a stable code and a message that
 * names the host, the path and what the registry said (the distribution spec's JSON error body:
 * `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]}`).
 */
import { type ErrorCode, LayerleakError } from '../../core/errors.ts'
import { type HttpResponse, parseRetryAfter } from './registry-http.ts'

interface DistributionError {
  code?: string
  message?: string
}

/** The error entries of a distribution error body; empty when the body is something else. */
export const distributionErrors = (bytes: Uint8Array): DistributionError[] => {
  try {
    const body = JSON.parse(new TextDecoder().decode(bytes)) as { errors?: unknown }
    return Array.isArray(body.errors) ? body.errors.filter((entry): entry is DistributionError => !!entry && typeof entry === 'object') : []
  } catch {
    return []
  }
}

const codeFor = (status: number): ErrorCode => {
  if (status === 404) return 'NOT_FOUND'
  if (status === 401) return 'UNAUTHORIZED'
  if (status === 403) return 'DENIED'
  if (status === 429) return 'RATE_LIMITED'
  return 'REGISTRY_ERROR'
}

/**
 * `what` names the resource for people: `manifest docker.io/library/alpine:latest`,
 * `repository ghcr.io/org/app`. A NAME_UNKNOWN 404 is about the repository, whatever was asked.
 */
export const registryError = (response: HttpResponse, method: string, what: string, repository: string): LayerleakError => {
  const url = new URL(response.url)
  const errors = distributionErrors(response.bytes)
  const codes = errors.map((entry) => entry.code).filter(Boolean) as string[]
  const said = errors
    .map((entry) => [entry.code, entry.message].filter(Boolean).join(': '))
    .filter(Boolean)
    .join('; ')
  const tries = response.attempts > 1 ? ` after ${response.attempts} attempts` : ''
  const where = `${method} ${url.host}${url.pathname} -> ${response.status}${tries}`
  const code = codeFor(response.status)
  let message: string
  if (code === 'NOT_FOUND') message = codes.includes('NAME_UNKNOWN') ? `repository ${repository} not found` : `${what} not found`
  else if (code === 'DENIED') message = `access to ${what} denied`
  else if (code === 'RATE_LIMITED') {
    const wait = parseRetryAfter(response.headers.get('retry-after'))
    message = `rate limited while fetching ${what}${wait !== undefined ? ` (the registry asks to retry after ${Math.ceil(wait / 1000)}s)` : ''}`
  } else if (code === 'UNAUTHORIZED') message = `not authorized to fetch ${what}`
  else message = `the registry failed to serve ${what}`
  return new LayerleakError(code, `${message} (${where}${said ? `: ${said}` : ''})`, {
    details: { status: response.status, host: url.host, path: url.pathname, registryCodes: codes, attempts: response.attempts },
  })
}
