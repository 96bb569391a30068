/**
 * An OCI distribution client: manifests (capped, digest-verified), config blobs (capped,
 * verified), layer blobs as streams (resumed on dropped connections), tag lists (RFC 8288 Link
 * pagination). Authentication, retries, timeouts and redirects are handled underneath
 * (registry-auth.ts, registry-http.ts); errors come out as LayerleakErrors with stable codes.
 */
import { digestOf, isDigest, verifyDigest } from '../../core/digest.ts'
import { LayerleakError } from '../../core/errors.ts'
import { defaultLimits } from '../../core/limits.ts'
import { isSchema1MediaType, manifestAccept } from '../../core/media-types.ts'
import { apiBase } from './image-reference.ts'
import { createAuthenticator } from './registry-auth.ts'
import { resumableBlob } from './registry-blob-stream.ts'
import { type CredentialStore, createCredentialStore } from './registry-credentials.ts'
import { registryError } from './registry-errors.ts'
import { createHttp, type HttpRequest, type HttpResponse, type ReadOptions } from './registry-http.ts'

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

export interface RegistryClient {
  getManifest(repo: RepositoryName, reference: string, options?: RequestOptions & { maxBytes?: number }): Promise<FetchedManifest>
  headManifest(repo: RepositoryName, reference: string, options?: RequestOptions): Promise<ManifestHead>
  /** a small blob (a config), read whole and verified */
  getBlobBytes(repo: RepositoryName, digest: string, maxBytes?: number, options?: RequestOptions): Promise<Uint8Array>
  /** a blob's raw bytes as they stream; not hashed here (the layer reader verifies) */
  openBlob(repo: RepositoryName, digest: string, options?: RequestOptions & { expectedSize?: number }): Promise<ReadableStream<Uint8Array>>
  listTags(repo: RepositoryName, options?: RequestOptions & { pageSize?: number; maxTags?: number; maxResponseBytes?: number }): Promise<TagList>
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
  const http = createHttp({
    fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
    timeoutMs,
    blobIdleTimeoutMs: options.blobIdleTimeoutMs ?? timeoutMs * 2,
    attempts,
    retryBaseDelayMs: options.retryBaseDelayMs ?? 250,
    maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
    userAgent: options.userAgent ?? 'layerleak',
    logger,
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

  /** One registry request: credentials up front when the challenge is known, one retry per 401. */
  const call = async (repo: RepositoryName, request: HttpRequest, read: ReadOptions, what: string): Promise<HttpResponse> => {
    const scope = `repository:${repo.repository}:pull`
    let authorization = await auth.authorize(repo.registry, scope, request.signal)
    let fresh = false
    for (;;) {
      const headers = { ...request.headers, ...(authorization ? { authorization } : {}) }
      const response = await http.send({ ...request, headers }, read)
      if (response.status !== 401) {
        if (response.status >= 200 && response.status < 300) return response
        throw registryError(response, request.method, what, `${repo.registry}/${repo.repository}`)
      }
      const challenge = response.headers.get('www-authenticate')
      // a token just issued and already refused will not do better a second time
      if (authorization && fresh) throw await auth.rejected(repo.registry, what, challenge)
      authorization = await auth.challenged(repo.registry, scope, challenge, authorization, request.signal)
      fresh = true
    }
  }

  const manifestWhat = (repo: RepositoryName, reference: string) =>
    `manifest ${repo.registry}/${repo.repository}${isDigest(reference) ? '@' : ':'}${reference}`

  const getManifest: RegistryClient['getManifest'] = async (repo, reference, { signal, maxBytes = defaultLimits.maxManifestBytes } = {}) => {
    const what = manifestWhat(repo, reference)
    const request: HttpRequest = { method: 'GET', url: urlOf(repo, `manifests/${reference}`), headers: { accept: manifestAccept }, signal }
    const response = await call(repo, request, { maxBytes, limitName: 'max_manifest_bytes' }, what)
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

  return {
    getManifest,
    async headManifest(repo, reference, { signal } = {}) {
      const what = manifestWhat(repo, reference)
      const response = await call(repo, { method: 'HEAD', url: urlOf(repo, `manifests/${reference}`), headers: { accept: manifestAccept }, signal }, {}, what)
      const digest = response.headers.get('docker-content-digest')
      const size = Number(response.headers.get('content-length'))
      if (digest && isDigest(digest) && Number.isFinite(size)) return { digest, mediaType: contentType(response), size }
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

    async openBlob(repo, digest, { signal, expectedSize } = {}) {
      const what = `blob ${digest} of ${repo.registry}/${repo.repository}`
      const open = async (offset: number) => {
        // identity: a transfer-compressed body would be decoded by fetch and no longer hash to the digest
        const headers: Record<string, string> = { 'accept-encoding': 'identity', ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) }
        const response = await call(repo, { method: 'GET', url: urlOf(repo, `blobs/${digest}`), headers, signal }, { stream: true }, what)
        const body = response.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() })
        const partial = response.status === 206
        if (partial && !(response.headers.get('content-range') ?? '').startsWith(`bytes ${offset}-`)) {
          await body.cancel().catch(() => {})
          throw new LayerleakError('REGISTRY_ERROR', `${what}: asked to resume at byte ${offset}, got ${response.headers.get('content-range') ?? 'no Content-Range'}`)
        }
        const declared = Number(response.headers.get('content-length') ?? Number.NaN)
        if (offset === 0 && expectedSize !== undefined && Number.isFinite(declared) && declared !== expectedSize) {
          await body.cancel().catch(() => {})
          throw new LayerleakError('DIGEST_MISMATCH', `${what}: the manifest says ${expectedSize} bytes, the registry announces ${declared}`, { details: { expectedSize, declared } })
        }
        return { body, partial }
      }
      return resumableBlob(open, { attempts, what, signal, ...(expectedSize !== undefined ? { expectedSize } : {}) })
    },

    async listTags(repo, { signal, pageSize = 100, maxTags = 0, maxResponseBytes = defaultLimits.maxTagResponseBytes } = {}) {
      const what = `the tag list of ${repo.registry}/${repo.repository}`
      const origin = new URL(baseOf(repo)).origin
      const tags: string[] = []
      const seen = new Set<string>()
      let url: string | undefined = `${urlOf(repo, 'tags/list')}?n=${pageSize}`
      while (url) {
        if (seen.has(url)) throw new LayerleakError('REGISTRY_ERROR', `${what}: the registry's pagination loops back to ${url}`)
        seen.add(url)
        const response = await call(repo, { method: 'GET', url, signal }, { maxBytes: maxResponseBytes, limitName: 'max_tag_response_bytes' }, what)
        let page: { tags?: unknown }
        try {
          page = JSON.parse(new TextDecoder().decode(response.bytes))
        } catch (cause) {
          throw new LayerleakError('REGISTRY_ERROR', `${what}: the answer is not JSON`, { cause })
        }
        for (const tag of Array.isArray(page.tags) ? page.tags : []) {
          if (typeof tag !== 'string') continue
          if (maxTags > 0 && tags.length >= maxTags) return { tags, truncated: true }
          tags.push(tag)
        }
        const next = nextLink(response.headers.get('link'))
        if (!next) break
        const resolved = new URL(next, response.url)
        if (resolved.origin !== origin) throw new LayerleakError('REGISTRY_ERROR', `${what}: refusing a next-page link to another host (${resolved.host})`)
        url = resolved.href
      }
      return { tags, truncated: false }
    },
  }
}
