/**
 * Optional bearer-token authentication. With no token configured the API is open (bind it to
 * loopback, or put it behind a gateway); with tokens, every route but the health checks needs one.
 * Browsers cannot send an Authorization header from a link, so the pages also accept the token
 * from an HttpOnly, SameSite=Strict cookie set by the login form.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { MiddlewareHandler } from 'hono'
import { getCookie } from 'hono/cookie'
import { LayerleakError } from '../core/errors.ts'

export const TOKEN_COOKIE = 'layerleak_token'
/** shorter tokens are guessable; refusing them at start-up beats finding out later */
export const MIN_TOKEN_LENGTH = 16

/** Tokens from LAYERLEAK_API_TOKENS and the lines of LAYERLEAK_API_TOKEN_FILE (blank and `#` lines skipped). */
export const loadApiTokens = async (settings: { apiTokens: string[]; apiTokenFile?: string }): Promise<string[]> => {
  const tokens = [...settings.apiTokens]
  if (settings.apiTokenFile) {
    let text: string
    try {
      text = await readFile(settings.apiTokenFile, 'utf8')
    } catch (cause) {
      throw new LayerleakError('INVALID_CONFIG', `cannot read the API token file ${settings.apiTokenFile} (LAYERLEAK_API_TOKEN_FILE): ${(cause as Error).message}`, { cause })
    }
    tokens.push(...text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line && !line.startsWith('#')))
    if (tokens.length === settings.apiTokens.length) throw new LayerleakError('INVALID_CONFIG', `the API token file ${settings.apiTokenFile} holds no token`)
  }
  for (const token of tokens) {
    if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
      throw new LayerleakError('INVALID_CONFIG', `every API token must be at least ${MIN_TOKEN_LENGTH} characters without spaces (one is ${token.length} long)`)
    }
  }
  return [...new Set(tokens)]
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()

/**
 * Compares a presented token with every configured one in constant time: hashing first gives
 * equal-length inputs, and no comparison stops early, so timing tells neither which token
 * nor how much of one matched.
 */
export const createTokenCheck = (tokens: readonly string[]): ((presented: string | undefined) => boolean) => {
  const known = tokens.map(digest)
  return (presented) => {
    const candidate = digest(presented ?? '')
    let match = false
    for (const token of known) match = timingSafeEqual(token, candidate) || match
    return match && presented !== undefined
  }
}

const bearer = (header: string | undefined): string | undefined => {
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '')
  return match?.[1]
}

export interface AuthOptions {
  tokens: readonly string[]
  /** paths served without a token */
  isPublic: (path: string) => boolean
  /** what to answer a request without a valid token (a JSON 401, or a redirect to the login page) */
  onUnauthorized: (path: string, reason: 'missing' | 'invalid') => Response
}

/** The middleware; a no-op when no token is configured. */
export const requireToken = (options: AuthOptions): MiddlewareHandler => {
  if (options.tokens.length === 0) return async (_c, next) => next()
  const valid = createTokenCheck(options.tokens)
  return async (c, next) => {
    if (options.isPublic(c.req.path)) return next()
    const header = c.req.header('authorization')
    const presented = header !== undefined ? bearer(header) : getCookie(c, TOKEN_COOKIE)
    if (presented === undefined && header === undefined) return options.onUnauthorized(c.req.path, 'missing')
    if (!valid(presented)) return options.onUnauthorized(c.req.path, 'invalid')
    return next()
  }
}

/** The token check alone, for the login form. */
export const tokenIsValid = (tokens: readonly string[], presented: string): boolean => tokens.length > 0 && createTokenCheck(tokens)(presented)
