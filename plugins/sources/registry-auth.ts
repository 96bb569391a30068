/**
 * Registry authentication: an RFC 7235 `WWW-Authenticate` parser, the distribution token flow
 * (Bearer: GET or OAuth2 POST to the realm, tokens cached per realm, service and scopes until they
 * expire) and Basic. The registry client asks `authorize` before a request and `challenged` after a
 * 401; everything about which header to send lives here.
 */
import { LayerleakError } from '../../core/errors.ts'
import { DOCKER_HUB, isLoopbackHost } from './image-reference.ts'
import type { CredentialStore, Credentials } from './registry-credentials.ts'
import type { Http } from './registry-http.ts'

export interface Challenge {
  /** lower case: `bearer`, `basic` */
  scheme: string
  /** parameter names lower case, values unquoted and unescaped */
  params: Record<string, string>
  token68?: string
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/

/**
 * Parses a `WWW-Authenticate` value: several challenges, each `scheme [token68 | param, ...]`,
 * values as tokens or quoted strings with backslash escapes. Lenient where servers are sloppy
 * (stray commas, unquoted values): it never throws, and returns what it could read.
 */
export const parseWwwAuthenticate = (header: string): Challenge[] => {
  const text = header
  const challenges: Challenge[] = []
  let i = 0
  const skip = (chars: string) => {
    while (i < text.length && chars.includes(text[i])) i++
  }
  const token = (): string => {
    const start = i
    while (i < text.length && TCHAR.test(text[i])) i++
    return text.slice(start, i)
  }
  const quoted = (): string => {
    let value = ''
    for (i++; i < text.length; ) {
      const char = text[i++]
      if (char === '"') return value
      value += char === '\\' && i < text.length ? text[i++] : char
    }
    return value
  }
  /** strictly a token; read up to the next comma or space, as servers send unquoted URLs too */
  const unquoted = (): string => {
    const start = i
    while (i < text.length && text[i] !== ',' && text[i] !== ' ' && text[i] !== '\t') i++
    return text.slice(start, i)
  }
  /** a token68 is the whole rest of the challenge: followed only by the end or a comma */
  const token68 = (): string | undefined => {
    const start = i
    while (i < text.length && TOKEN68_CHAR.test(text[i])) i++
    if (i === start) return undefined
    skip('=')
    const end = i
    skip(' \t')
    if (i === text.length || text[i] === ',') return text.slice(start, end)
    i = start
    return undefined
  }

  while (i < text.length) {
    skip(' \t,')
    const scheme = token()
    if (!scheme) {
      if (i < text.length) i++
      continue
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} }
    challenges.push(challenge)
    skip(' \t')
    const t68 = token68()
    if (t68 !== undefined) {
      challenge.token68 = t68
      continue
    }
    for (;;) {
      skip(' \t,')
      const start = i
      const name = token()
      skip(' \t')
      if (!name || text[i] !== '=') {
        i = start // not a parameter: the next challenge's scheme starts here
        break
      }
      i++
      skip(' \t')
      const value = text[i] === '"' ? quoted() : unquoted()
      const key = name.toLowerCase()
      if (!(key in challenge.params)) challenge.params[key] = value
      skip(' \t')
      if (text[i] !== ',') break
    }
  }
  return challenges
}

export interface AuthenticatorOptions {
  http: Http
  credentials: CredentialStore
  /** replaces the token realm of Docker Hub's challenges (LAYERLEAK_REGISTRY_AUTH_URL) */
  authUrl?: string
  /** hosts the user allows plain HTTP to (credentials may travel there) */
  insecureRegistries?: readonly string[]
  now?: () => number
  logger?: (message: string) => void
}

export interface Authenticator {
  /** the Authorization value to send up front, once the registry's challenge is known */
  authorize(registry: string, scope: string, signal?: AbortSignal): Promise<string | undefined>
  /**
   * After a 401: learns the challenge, forgets a rejected token and returns the Authorization
   * value to retry with; UNAUTHORIZED when there is nothing to retry with.
   */
  challenged(registry: string, scope: string, wwwAuthenticate: string | null, rejected: string | undefined, signal?: AbortSignal): Promise<string>
  /** the error for a 401 that survived fresh credentials or a fresh token; `what` names the resource */
  rejected(registry: string, what: string, wwwAuthenticate: string | null): Promise<LayerleakError>
}

interface CachedToken {
  token: Promise<string>
  /** the token once it arrived */
  value?: string
  expiresAt: number
}

const DEFAULT_EXPIRES_IN = 60
const MAX_TOKEN_RESPONSE = 1_048_576
const LOGIN_HINT = 'log in with `docker login`, or pass --username and --password'

const basic = (credentials: Credentials): string =>
  `Basic ${Buffer.from(`${credentials.username ?? ''}:${credentials.password ?? ''}`).toString('base64')}`

const hasPassword = (credentials: Credentials | undefined): credentials is Credentials =>
  !!credentials && credentials.username !== undefined && credentials.password !== undefined

export const createAuthenticator = (options: AuthenticatorOptions): Authenticator => {
  const now = options.now ?? Date.now
  const challenges = new Map<string, Challenge>()
  const tokens = new Map<string, CachedToken>()

  /** credentials travel only over TLS, to loopback, or to a host the user declared insecure */
  const mayCarryCredentials = (url: URL): boolean =>
    url.protocol === 'https:' || isLoopbackHost(url.hostname) || (options.insecureRegistries ?? []).some((host) => host === url.host || host === url.hostname)

  const requestToken = async (registry: string, challenge: Challenge, scopes: string[], signal?: AbortSignal): Promise<{ token: string; expiresIn: number }> => {
    const realmText = registry === DOCKER_HUB && options.authUrl ? options.authUrl : challenge.params.realm
    if (!realmText) throw new LayerleakError('UNAUTHORIZED', `${registry} asked for a Bearer token but named no realm to get it from`)
    let realm: URL
    try {
      realm = new URL(realmText)
    } catch {
      throw new LayerleakError('UNAUTHORIZED', `${registry} named an invalid token realm "${realmText}"`)
    }
    const credentials = await options.credentials.get(registry)
    const service = challenge.params.service
    const carried = credentials && mayCarryCredentials(realm) ? credentials : undefined
    if (credentials && !carried) options.logger?.(`not sending credentials for ${registry} to ${realm.origin} over plain HTTP`)
    let request
    if (carried?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: carried.identityToken, client_id: 'layerleak', ...(service ? { service } : {}) })
      if (scopes.length) form.set('scope', scopes.join(' '))
      request = { method: 'POST' as const, url: realm.href, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString(), signal }
    } else {
      const url = new URL(realm)
      if (service) url.searchParams.set('service', service)
      for (const scope of scopes) url.searchParams.append('scope', scope)
      request = { method: 'GET' as const, url: url.href, headers: hasPassword(carried) ? { authorization: basic(carried) } : {}, signal }
    }
    options.logger?.(`requesting a token from ${realm.host}${realm.pathname} for ${scopes.join(' ')}${carried ? ' with credentials' : ''}`)
    const response = await options.http.send(request, { maxBytes: MAX_TOKEN_RESPONSE, limitName: 'the token response cap' })
    const where = `token endpoint ${realm.host}${realm.pathname} (for ${registry})`
    if (response.status === 401 || response.status === 403) {
      const why = carried ? 'rejected the credentials' : `requires credentials and none were found for ${registry}: ${LOGIN_HINT}`
      throw new LayerleakError(response.status === 401 ? 'UNAUTHORIZED' : 'DENIED', `${where} ${why} (${response.status})`, { details: { status: response.status } })
    }
    if (response.status === 429) throw new LayerleakError('RATE_LIMITED', `${where} rate limited the request (429)`, { details: { status: 429 } })
    if (response.status !== 200) throw new LayerleakError('REGISTRY_ERROR', `${where} answered ${response.status}`, { details: { status: response.status } })
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown }
    try {
      body = JSON.parse(new TextDecoder().decode(response.bytes))
    } catch (cause) {
      throw new LayerleakError('REGISTRY_ERROR', `${where} did not answer with JSON`, { cause })
    }
    const token = typeof body.token === 'string' && body.token ? body.token : body.access_token
    if (typeof token !== 'string' || !token) throw new LayerleakError('REGISTRY_ERROR', `${where} answered without a token`)
    const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_EXPIRES_IN
    return { token, expiresIn }
  }

  /** a cached token while it has life left (a tenth of its lifetime, at most 10s, kept as margin) */
  const bearer = async (registry: string, challenge: Challenge, scopes: string[], signal?: AbortSignal): Promise<string> => {
    const credentials = await options.credentials.get(registry)
    if (credentials?.registryToken) return `Bearer ${credentials.registryToken}`
    const key = [challenge.params.realm, challenge.params.service ?? '', ...[...new Set(scopes)].sort()].join('\n')
    const cached = tokens.get(key)
    if (cached && cached.expiresAt > now()) return `Bearer ${await cached.token}`
    const entry: CachedToken = { token: Promise.resolve(''), expiresAt: Number.POSITIVE_INFINITY }
    entry.token = requestToken(registry, challenge, [...new Set(scopes)], signal).then(
      ({ token, expiresIn }) => {
        entry.value = token
        entry.expiresAt = now() + expiresIn * 1000 - Math.min(10_000, expiresIn * 100)
        return token
      },
      (error) => {
        if (tokens.get(key) === entry) tokens.delete(key)
        throw error
      },
    )
    tokens.set(key, entry)
    return `Bearer ${await entry.token}`
  }

  const headerFor = async (registry: string, challenge: Challenge, scopes: string[], signal?: AbortSignal): Promise<string | undefined> => {
    if (challenge.scheme === 'bearer') return bearer(registry, challenge, scopes, signal)
    const credentials = await options.credentials.get(registry)
    return hasPassword(credentials) ? basic(credentials) : undefined
  }

  const forget = (rejected: string) => {
    for (const [key, entry] of tokens) if (`Bearer ${entry.value}` === rejected) tokens.delete(key)
  }

  return {
    async authorize(registry, scope, signal) {
      const challenge = challenges.get(registry)
      return challenge ? headerFor(registry, challenge, [scope], signal) : undefined
    },

    async challenged(registry, scope, wwwAuthenticate, rejected, signal) {
      const offered = parseWwwAuthenticate(wwwAuthenticate ?? '')
      const challenge = offered.find((c) => c.scheme === 'bearer') ?? offered.find((c) => c.scheme === 'basic')
      if (!challenge) {
        const schemes = offered.map((c) => c.scheme).join(', ')
        throw new LayerleakError('UNAUTHORIZED', `${registry} answered 401 ${schemes ? `asking for an unsupported scheme (${schemes})` : 'without a WWW-Authenticate challenge'}`)
      }
      challenges.set(registry, challenge)
      if (rejected) forget(rejected)
      const scopes = [...(challenge.params.scope ?? '').split(' ').filter(Boolean), scope]
      const header = await headerFor(registry, challenge, scopes, signal)
      if (!header) throw new LayerleakError('UNAUTHORIZED', `${registry} requires authentication (Basic) and no credentials were found: ${LOGIN_HINT}`)
      return header
    },

    async rejected(registry, what, wwwAuthenticate) {
      const challenge = parseWwwAuthenticate(wwwAuthenticate ?? '')[0]
      const error = challenge?.params.error ? ` (${challenge.params.error})` : ''
      const credentials = await options.credentials.get(registry).catch(() => undefined)
      return new LayerleakError(
        'UNAUTHORIZED',
        credentials
          ? `${registry} rejected the credentials for ${what}${error}`
          : `${registry} denied anonymous access to ${what}${error}: it may be private or may not exist; ${LOGIN_HINT}`,
        { details: { status: 401 } },
      )
    },
  }
}
