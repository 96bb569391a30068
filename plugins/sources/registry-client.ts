/**
 * An OCI distribution client: manifests (capped, digest-verified), config blobs (capped,
 * verified), layer blobs as streams (resumed on dropped connections), tag lists and the catalog
 * (RFC 8288 Link pagination, page by page). Authentication, retries, timeouts and redirects are
 * handled underneath (registry-auth.ts, registry-http.ts); manifest-sized requests go through a
 * per-host pacer (registry-rate-limit.ts). Errors come out as LayerleakErrors with stable codes.
 */
import { digestOf, isDigest, verifyDigest } from '../../core/digest.ts'
import { LayerleakError } from '../../core/errors.ts'
import { defaultLimits } from '../../core/limits.ts'
import { isSchema1MediaType, manifestAccept } from '../../core/media-types.ts'
import { apiBase } from './image-reference.ts'
import { createAuthenticator } from './registry-auth.ts'
import { rangeRefused, resumableBlob } from './registry-blob-stream.ts'
import { type CredentialStore, createCredentialStore } from './registry-credentials.ts'
import { registryError } from './registry-errors.ts'
import { createHttp, type HttpRequest, type HttpResponse, type ReadOptions } from './registry-http.ts'
import { createHostPacer, type HostPacer, type RequestCost } from './registry-rate-limit.ts'

export interface RegistryClientOptions {
  /** the HTTP client (default globalThis.fetch; the Node adapter passes undici's) */
  fetch?: typeof fetch
  /** ms per request (LAYERLEAK_HTTP_TIMEOUT, default 30s) */
  timeoutMs?: number
  /** ms a blob body may stall before the read fails (default: twice `timeoutMs`) */
  blobIdleTimeoutMs?: number
  /** tries per request (LAYERLEAK_REGISTRY_REQUEST_ATTEMPTS, default 3) */
  attempts?: number
  /** ms before the first retry (default 250) */
  retryBaseDelayMs?: number
  /** ms cap on one wait between tries, Retry-After included (default 30s) */
  maxRetryDelayMs?: number
  /** hosts spoken to over plain HTTP (loopback always is) */
  insecureRegistries?: string[]
  /** replaces Docker Hub's API base (LAYERLEAK_REGISTRY_BASE_URL) */
  registryBaseUrl?: string
  /** replaces Docker Hub's token realm (LAYERLEAK_REGISTRY_AUTH_URL) */
  authUrl?: string
  /** default: ~/.docker/config.json and its helpers */
  credentials?: CredentialStore
  userAgent?: string
  /** debug messages: retries, redirects, token requests */
  logger?: (message: string) => void
  /** manifest requests (HEAD, GET, tag and catalog pages) in flight per registry host (default 4) */
  maxRequestsPerHost?: number
  /** at or below this many requests left in a registry's rate-limit window, slow down (default 10) */
  rateLimitLowRemaining?: number
  /** pause between manifest GETs when the quota is low; grows as it runs out (default 1s) */
  rateLimitSlowDownMs?: number
}

/** Where a repository lives: an ImageReference is one. */
export interface RepositoryName {
  registry: string
  repository: string
}

export interface FetchedManifest {
  bytes: Uint8Array
  /** the Content-Type, without parameters ('' when absent) */
  mediaType: string
  /** the digest of the bytes; equal to the requested digest when fetched by digest */
  digest: string
  size: number
  /** the registry's Docker-Content-Digest header, when sent */
  dockerContentDigest?: string
}

export interface ManifestHead {
  digest: string
  mediaType: string
  size: number
}

export interface TagList {
  tags: string[]
  /** true when `maxTags` stopped the listing */
  truncated: boolean
}

export interface RequestOptions {
  signal?: AbortSignal
}

export interface BlobRange {
  /** the size the manifest states: more or fewer bytes fail the stream */
  expectedSize?: number
  /** the byte to start at (default 0) */
  offset?: number
  /** the byte the stream does start at: `offset`, or 0 when the registry would not serve the range */
  onStart?: (start: number) => void
}

export interface PageOptions extends RequestOptions {
  /** `?n=`: entries asked for per page (LAYERLEAK_TAG_PAGE_SIZE) */
  pageSize?: number
  /** cap on one page's body (LAYERLEAK_MAX_TAG_RESPONSE_BYTES); 0: none */
  maxResponseBytes?: number
  /** `&last=`: start after this entry (registries that ignore it start at the beginning) */
  last?: string
}

export interface RegistryClient {
  getManifest(repo: RepositoryName, reference: string, options?: RequestOptions & { maxBytes?: number }): Promise<FetchedManifest>
  headManifest(repo: RepositoryName, reference: string, options?: RequestOptions): Promise<ManifestHead>
  /** a small blob (a config), read whole and verified */
  getBlobBytes(repo: RepositoryName, digest: string, maxBytes?: number, options?: RequestOptions): Promise<Uint8Array>
  /**
   * Whether the repository still serves a blob, asked with HEAD (no bytes move): its size when it
   * does; NOT_FOUND when it does not (a zombie layer collected, say)
   */
  headBlob(repo: RepositoryName, digest: string, options?: RequestOptions): Promise<{ size?: number }>
  /**
   * A blob's raw bytes as they stream; not hashed here (the layer reader verifies). From `offset`
   * (`Range: bytes=N-`) when given: a registry that will not serve that range is read from 0
   * instead, and `onStart` (called before this resolves) tells which.
   */
  openBlob(repo: RepositoryName, digest: string, options?: RequestOptions & BlobRange): Promise<ReadableStream<Uint8Array>>
  listTags(repo: RepositoryName, options?: RequestOptions & { pageSize?: number; maxTags?: number; maxResponseBytes?: number }): Promise<TagList>
  /** the tag list one page at a time, so a caller keeps what it has when a later page fails */
  tagPages(repo: RepositoryName, options?: PageOptions): AsyncIterable<string[]>
  /** `/v2/_catalog`, one page at a time (registries that offer it: distribution, Harbor, Zot...) */
  catalogPages(registry: string, options?: PageOptions): AsyncIterable<string[]>
  /** a JSON document from a registry's companion API (Docker Hub's), without registry credentials */
  getJson(url: string, options?: RequestOptions & { maxBytes?: number; what?: string }): Promise<{ body: unknown; url: string }>
  /** what the per-host pacer knows (rate-limit headers seen, pauses) */
  pacer: HostPacer
}

/** `bytes N-END/TOTAL` starting at `offset` (and, when both are known, for a blob of `expectedSize` bytes) */
const contentRangeFits = (header: string | null, offset: number, expectedSize: number | undefined): boolean => {
  const range = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/.exec((header ?? '').trim())
  if (!range || Number(range[1]) !== offset) return false
  return expectedSize === undefined || range[3] === '*' || (Number(range[3]) === expectedSize && Number(range[2]) === expectedSize - 1)
}

const contentType = (response: HttpResponse): string => (response.headers.get('content-type') ?? '').split(';')[0].trim()

/** The `rel="next"` target of an RFC 8288 Link header. */
export const nextLink = (header: string | null): string | undefined => {
  if (!header) return undefined
  for (const match of header.matchAll(/<([^>]*)>((?:\s*;\s*[^;,]*)*)/g)) {
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(match[2])
    const relations = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/)
    if (relations.includes('next')) return match[1]
  }
  return undefined
}

export const createRegistryClient = (options: RegistryClientOptions = {}): RegistryClient => {
  const timeoutMs = options.timeoutMs ?? 30_000
  const attempts = options.attempts ?? 3
  const logger = options.logger ?? (() => {})
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000
  const pacer = createHostPacer({
    maxInFlight: options.maxRequestsPerHost ?? 4,
    ...(options.rateLimitLowRemaining !== undefined ? { lowRemaining: options.rateLimitLowRemaining } : {}),
    ...(options.rateLimitSlowDownMs !== undefined ? { slowDownMs: options.rateLimitSlowDownMs } : {}),
    maxWaitMs: maxRetryDelayMs,
    logger,
  })
  const http = createHttp({
    fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
    timeoutMs,
    blobIdleTimeoutMs: options.blobIdleTimeoutMs ?? timeoutMs * 2,
    attempts,
    retryBaseDelayMs: options.retryBaseDelayMs ?? 250,
    maxRetryDelayMs,
    userAgent: options.userAgent ?? 'layerleak',
    logger,
    onResponse: (request, status, headers) => pacer.observe(new URL(request.url).host, status, headers),
  })
  const auth = createAuthenticator({
    http,
    credentials: options.credentials ?? createCredentialStore(),
    ...(options.authUrl ? { authUrl: options.authUrl } : {}),
    insecureRegistries: options.insecureRegistries ?? [],
    logger,
  })
  const baseOf = (repo: RepositoryName) => apiBase(repo.registry, options)
  const urlOf = (repo: RepositoryName, path: string) => `${baseOf(repo)}/v2/${repo.repository}/${path}`

  /**
   * One registry request: credentials up front when the challenge is known, one retry per 401.
   * `cost` sends it through the host pacer (manifest-sized requests; never blobs, which stream).
   */
  const callRegistry = async (
    registry: string,
    scope: string,
    subject: string,
    request: HttpRequest,
    read: ReadOptions,
    what: string,
    cost?: RequestCost,
  ): Promise<HttpResponse> => {
    const host = new URL(request.url).host
    const send = (headers: Record<string, string>) => {
      const go = () => http.send({ ...request, headers }, read)
      return cost ? pacer.run(host, cost, go, request.signal) : go()
    }
    let authorization = await auth.authorize(registry, scope, request.signal)
    let fresh = false
    for (;;) {
      const response = await send({ ...request.headers, ...(authorization ? { authorization } : {}) })
      if (response.status !== 401) {
        if (response.status >= 200 && response.status < 300) return response
        throw registryError(response, request.method, what, subject)
      }
      const challenge = response.headers.get('www-authenticate')
      // a token just issued and already refused will not do better a second time
      if (authorization && fresh) throw await auth.rejected(registry, what, challenge)
      authorization = await auth.challenged(registry, scope, challenge, authorization, request.signal)
      fresh = true
    }
  }
  const call = (repo: RepositoryName, request: HttpRequest, read: ReadOptions, what: string, cost?: RequestCost): Promise<HttpResponse> =>
    callRegistry(repo.registry, `repository:${repo.repository}:pull`, `${repo.registry}/${repo.repository}`, request, read, what, cost)

  /**
   * A paginated listing (`tags/list`, `_catalog`): `?n=` then RFC 8288 `rel="next"` links, resolved
   * against the answering URL and refused when they lead to another origin (credentials would
   * follow) or back to a page already read.
   */
  async function* pages(first: string, field: 'tags' | 'repositories', fetchPage: (url: string) => Promise<HttpResponse>, what: string): AsyncIterable<string[]> {
    const origin = new URL(first).origin
    const seen = new Set<string>()
    let url: string | undefined = first
    while (url) {
      if (seen.has(url)) throw new LayerleakError('REGISTRY_ERROR', `${what}: the registry's pagination loops back to ${url}`)
      seen.add(url)
      const response = await fetchPage(url)
      let page: Record<string, unknown>
      try {
        page = JSON.parse(new TextDecoder().decode(response.bytes))
      } catch (cause) {
        throw new LayerleakError('REGISTRY_ERROR', `${what}: the answer is not JSON`, { cause })
      }
      const entries = page && Array.isArray(page[field]) ? (page[field] as unknown[]) : []
      // the page is good whatever its link says: hand it over before judging the link
      yield entries.filter((entry): entry is string => typeof entry === 'string')
      const next = nextLink(response.headers.get('link'))
      if (!next) return
      const resolved = new URL(next, response.url)
      if (resolved.origin !== origin) throw new LayerleakError('REGISTRY_ERROR', `${what}: refusing a next-page link to another host (${resolved.host})`)
      url = resolved.href
    }
  }

  const pageQuery = ({ pageSize = 100, last }: PageOptions) => `?n=${pageSize}${last ? `&last=${encodeURIComponent(last)}` : ''}`

  const manifestWhat = (repo: RepositoryName, reference: string) =>
    `manifest ${repo.registry}/${repo.repository}${isDigest(reference) ? '@' : ':'}${reference}`

  const getManifest: RegistryClient['getManifest'] = async (repo, reference, { signal, maxBytes = defaultLimits.maxManifestBytes } = {}) => {
    const what = manifestWhat(repo, reference)
    const request: HttpRequest = { method: 'GET', url: urlOf(repo, `manifests/${reference}`), headers: { accept: manifestAccept }, signal }
    const response = await call(repo, request, { maxBytes, limitName: 'max_manifest_bytes' }, what, 'costly')
    const mediaType = contentType(response)
    const header = response.headers.get('docker-content-digest') ?? undefined
    let digest: string
    if (isDigest(reference)) {
      verifyDigest(response.bytes, reference, what)
      digest = reference
    } else {
      digest = digestOf(response.bytes)
      // schema1 digests cover the payload without its signatures: no comparison is possible there
      if (header && isDigest(header) && !isSchema1MediaType(mediaType)) verifyDigest(response.bytes, header, `${what} (Docker-Content-Digest)`)
    }
    return { bytes: response.bytes, mediaType, digest, size: response.bytes.byteLength, ...(header ? { dockerContentDigest: header } : {}) }
  }

  const tagPages: RegistryClient['tagPages'] = (repo, page = {}) => {
    const what = `the tag list of ${repo.registry}/${repo.repository}`
    const read = { maxBytes: page.maxResponseBytes ?? defaultLimits.maxTagResponseBytes, limitName: 'max_tag_response_bytes' }
    const fetchPage = (url: string) => call(repo, { method: 'GET', url, ...(page.signal ? { signal: page.signal } : {}) }, read, what, 'free')
    return pages(`${urlOf(repo, 'tags/list')}${pageQuery(page)}`, 'tags', fetchPage, what)
  }

  return {
    getManifest,
    async headManifest(repo, reference, { signal } = {}) {
      const what = manifestWhat(repo, reference)
      let response: HttpResponse | undefined
      try {
        response = await call(repo, { method: 'HEAD', url: urlOf(repo, `manifests/${reference}`), headers: { accept: manifestAccept }, signal }, {}, what, 'free')
      } catch (error) {
        // a registry that does not implement HEAD on manifests: ask for the bytes instead
        const status = (error as LayerleakError).details?.status
        if (status !== 405 && status !== 501) throw error
      }
      const digest = response?.headers.get('docker-content-digest')
      const size = Number(response?.headers.get('content-length'))
      if (response && digest && isDigest(digest) && Number.isFinite(size)) return { digest, mediaType: contentType(response), size }
      // some registries leave the digest out of HEAD answers: ask for the bytes instead
      const fetched = await getManifest(repo, reference, { signal })
      return { digest: fetched.digest, mediaType: fetched.mediaType, size: fetched.size }
    },

    async getBlobBytes(repo, digest, maxBytes = defaultLimits.maxConfigBytes, { signal } = {}) {
      const what = `blob ${digest} of ${repo.registry}/${repo.repository}`
      const response = await call(repo, { method: 'GET', url: urlOf(repo, `blobs/${digest}`), signal }, { maxBytes, limitName: 'max_config_bytes' }, what)
      verifyDigest(response.bytes, digest, what)
      return response.bytes
    },

    async headBlob(repo, digest, { signal } = {}) {
      const what = `blob ${digest} of ${repo.registry}/${repo.repository}`
      const response = await call(repo, { method: 'HEAD', url: urlOf(repo, `blobs/${digest}`), signal }, {}, what, 'free')
      const size = Number(response.headers.get('content-length') ?? Number.NaN)
      return Number.isFinite(size) ? { size } : {}
    },

    async openBlob(repo, digest, { signal, expectedSize, offset: start = 0, onStart } = {}) {
      const what = `blob ${digest} of ${repo.registry}/${repo.repository}`
      const open = async (offset: number) => {
        // identity: a transfer-compressed body would be decoded by fetch and no longer hash to the digest
        const headers: Record<string, string> = { 'accept-encoding': 'identity', ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) }
        const response = await call(repo, { method: 'GET', url: urlOf(repo, `blobs/${digest}`), headers, signal }, { stream: true }, what)
        const body = response.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() })
        const partial = response.status === 206
        if (partial && !contentRangeFits(response.headers.get('content-range'), offset, expectedSize)) {
          await body.cancel().catch(() => {})
          throw rangeRefused(what, offset, response.headers.get('content-range') ?? 'no Content-Range')
        }
        // a 206 announces the rest from `offset`, a 200 the whole blob
        const declared = Number(response.headers.get('content-length') ?? Number.NaN)
        const announced = expectedSize === undefined ? undefined : partial ? expectedSize - offset : expectedSize
        if (announced !== undefined && Number.isFinite(declared) && declared !== announced) {
          await body.cancel().catch(() => {})
          throw new LayerleakError('DIGEST_MISMATCH', `${what}: the manifest says ${expectedSize} bytes, the registry announces ${declared}${partial ? ` from byte ${offset}` : ''}`, {
            details: { expectedSize, declared, ...(partial ? { offset } : {}) },
          })
        }
        return { body, partial }
      }
      return resumableBlob(open, { attempts, what, signal, start, log: logger, ...(onStart ? { onStart } : {}), ...(expectedSize !== undefined ? { expectedSize } : {}) })
    },

    async listTags(repo, { signal, pageSize = 100, maxTags = 0, maxResponseBytes = defaultLimits.maxTagResponseBytes } = {}) {
      const tags: string[] = []
      for await (const page of tagPages(repo, { ...(signal ? { signal } : {}), pageSize, maxResponseBytes })) {
        for (const tag of page) {
          if (maxTags > 0 && tags.length >= maxTags) return { tags, truncated: true }
          tags.push(tag)
        }
      }
      return { tags, truncated: false }
    },

    tagPages,

    catalogPages(registry, page = {}) {
      const what = `the catalog of ${registry}`
      const read = { maxBytes: page.maxResponseBytes ?? defaultLimits.maxTagResponseBytes, limitName: 'max_tag_response_bytes' }
      const fetchPage = (url: string) =>
        callRegistry(registry, 'registry:catalog:*', registry, { method: 'GET', url, ...(page.signal ? { signal: page.signal } : {}) }, read, what, 'free')
      return pages(`${apiBase(registry, options)}/v2/_catalog${pageQuery(page)}`, 'repositories', fetchPage, what)
    },

    async getJson(url, { signal, maxBytes = defaultLimits.maxTagResponseBytes, what = url } = {}) {
      const host = new URL(url).host
      const request: HttpRequest = { method: 'GET', url, headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) }
      const response = await pacer.run(host, 'free', () => http.send(request, { maxBytes, limitName: 'max_tag_response_bytes' }), signal)
      if (response.status < 200 || response.status >= 300) throw registryError(response, 'GET', what, host)
      try {
        return { body: JSON.parse(new TextDecoder().decode(response.bytes)), url: response.url }
      } catch (cause) {
        throw new LayerleakError('REGISTRY_ERROR', `${what}: the answer is not JSON`, { cause })
      }
    },

    pacer,
  }
}
