import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import type { Layer } from '../core/contracts.ts'
import { defaultLimits } from '../core/limits.ts'
import { type BuiltImage, buildImage } from '../plugins/sources/image-builder.ts'
import { createRegistryClient, type RegistryClientOptions } from '../plugins/sources/registry-client.ts'
import { createCredentialStore } from '../plugins/sources/registry-credentials.ts'
import { registrySource, type RegistrySourceOptions } from '../plugins/sources/registry.ts'
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.ts'
import { pushImage, uniqueRepository } from './support/push.ts'

const NO_DOCKER_CONFIG = '/nonexistent/layerleak-test-docker-config'

let proxy: FaultProxy
let repository: string
let image: BuiltImage

beforeAll(async () => {
  proxy = await startFaultProxy(inject('registryHost'))
  repository = uniqueRepository('faults')
  // a layer big enough to arrive in several chunks, so truncation and stalls land mid-body
  const noise = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251))
  image = await buildImage({ layers: [{ files: [{ path: 'data/noise.bin', content: noise }], compression: 'none' }, { files: [{ path: 'etc/app.conf', content: 'x=1' }] }] })
  await pushImage(inject('registryHost'), repository, image, ['v1'])
})
afterAll(() => proxy.close())
beforeEach(() => proxy.reset())

const repo = () => ({ registry: proxy.host, repository })
const client = (options: RegistryClientOptions & { username?: string; password?: string } = {}) => {
  const { username, password, ...rest } = options
  return createRegistryClient({
    retryBaseDelayMs: 10,
    credentials: createCredentialStore({ dockerConfigDir: NO_DOCKER_CONFIG, ...(username !== undefined ? { username, password } : {}) }),
    ...rest,
  })
}
const source = (options: RegistrySourceOptions = {}) => registrySource({ retryBaseDelayMs: 10, dockerConfigDir: NO_DOCKER_CONFIG, ...options })

const firstTarget = async (options: RegistrySourceOptions = {}, limits = defaultLimits) => {
  for await (const target of source(options).resolve(`${proxy.host}/${repository}:v1`, { limits, report: () => {} })) return target
  throw new Error('no target')
}

const readAll = async (stream: ReadableStream<Uint8Array>): Promise<Buffer> => Buffer.from(await new Response(stream as ReadableStream<Uint8Array<ArrayBuffer>>).arrayBuffer())

const failure = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (error) {
    return error as Error & { code: string }
  }
  throw new Error('expected a failure')
}

const manifestPath = /\/manifests\/v1$/
const blobPath = (digest: string) => new RegExp(`/blobs/${digest}$`)
const hits = (pattern: RegExp) => proxy.requests.filter((request) => pattern.test(request.path))
const blobLayer = async (options: RegistrySourceOptions = {}): Promise<Layer> => (await (await firstTarget(options)).layers())[0]

describe('retries', () => {
  it('retries 5xx answers and succeeds', async () => {
    proxy.inject({ path: manifestPath, times: 2, action: { status: 503 } })
    const manifest = await client().getManifest(repo(), 'v1')
    expect(manifest.digest).toBe(image.manifest.digest)
    expect(hits(manifestPath)).toHaveLength(3)
  })

  it('waits as long as a 429 Retry-After asks', async () => {
    proxy.inject({ path: manifestPath, action: { status: 429, retryAfter: '1' } })
    const started = Date.now()
    await client().getManifest(repo(), 'v1')
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
    expect(hits(manifestPath)).toHaveLength(2)
  })

  it('reads Retry-After as an HTTP date too', async () => {
    proxy.inject({ path: manifestPath, action: { status: 503, retryAfter: new Date(Date.now() + 2000).toUTCString() } })
    const started = Date.now()
    await client().getManifest(repo(), 'v1')
    // HTTP dates have whole seconds: the wait is between 1 and 2 seconds
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
  })

  it('gives up at once with RATE_LIMITED when Retry-After is longer than it will wait', async () => {
    proxy.inject({ path: manifestPath, action: { status: 429, retryAfter: '3600', body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' } })
    const error = await failure(client({ maxRetryDelayMs: 2000 }).getManifest(repo(), 'v1'))
    expect(error.code).toBe('RATE_LIMITED')
    expect(error.message).toContain('retry after 3600s')
    expect(error.message).toContain('TOOMANYREQUESTS')
    expect(hits(manifestPath)).toHaveLength(1)
  })

  it('fails with RATE_LIMITED when every attempt is rate limited', async () => {
    proxy.inject({ path: manifestPath, times: Infinity, action: { status: 429 } })
    const error = await failure(client({ attempts: 2 }).getManifest(repo(), 'v1'))
    expect(error.code).toBe('RATE_LIMITED')
    expect(error.message).toContain('after 2 attempts')
  })

  it('fails with REGISTRY_ERROR naming host, path and attempts when every attempt fails', async () => {
    proxy.inject({ path: manifestPath, times: Infinity, action: { status: 502 } })
    const error = await failure(client({ attempts: 3 }).getManifest(repo(), 'v1'))
    expect(error.code).toBe('REGISTRY_ERROR')
    expect(error.message).toContain(`GET ${proxy.host}/v2/${repository}/manifests/v1 -> 502 after 3 attempts`)
    expect(hits(manifestPath)).toHaveLength(3)
  })

  it('does not retry a 404', async () => {
    const error = await failure(client().getManifest(repo(), 'missing'))
    expect(error.code).toBe('NOT_FOUND')
    expect(hits(/\/manifests\/missing$/)).toHaveLength(1)
  })

  it('retries a reset connection', async () => {
    proxy.inject({ path: manifestPath, action: { reset: true } })
    expect((await client().getManifest(repo(), 'v1')).digest).toBe(image.manifest.digest)
  })

  it('fails with NETWORK_ERROR when the connection keeps resetting', async () => {
    proxy.inject({ path: manifestPath, times: Infinity, action: { reset: true } })
    const error = await failure(client({ attempts: 2 }).getManifest(repo(), 'v1'))
    expect(error.code).toBe('NETWORK_ERROR')
    expect(error.message).toContain(`${proxy.host}/v2/${repository}/manifests/v1`)
  })

  it('times out a slow answer and retries it', async () => {
    proxy.inject({ path: manifestPath, action: { delay: 1500 } })
    expect((await client({ timeoutMs: 500 }).getManifest(repo(), 'v1')).digest).toBe(image.manifest.digest)
    expect(hits(manifestPath)).toHaveLength(2)
  })

  it('fails with TIMEOUT when every attempt is too slow', async () => {
    proxy.inject({ path: manifestPath, times: Infinity, action: { delay: 1500 } })
    const error = await failure(client({ timeoutMs: 200, attempts: 2 }).getManifest(repo(), 'v1'))
    expect(error.code).toBe('TIMEOUT')
  })
})

describe('bearer tokens', () => {
  it('gets a token on the first 401 and reuses it for manifests, config and blobs', async () => {
    proxy.setAuth({ type: 'bearer' })
    const target = await firstTarget()
    await target.config()
    const layers = await target.layers()
    await readAll(await layers[1].blob())
    expect(proxy.tokenRequests).toHaveLength(1)
    const token = new URL(proxy.tokenRequests[0].path, 'http://x').searchParams
    expect(token.get('service')).toBe('fault-proxy')
    expect(token.getAll('scope')).toEqual([`repository:${repository}:pull`])
    const v2 = proxy.requests.filter((request) => request.path.startsWith('/v2/'))
    // one anonymous try, then everything with the token
    expect(v2.filter((request) => !request.headers.authorization)).toHaveLength(1)
    expect(v2.slice(1).every((request) => request.headers.authorization === 'Bearer token-1')).toBe(true)
  })

  it('sends Docker Hub traffic to LAYERLEAK_REGISTRY_BASE_URL and its token requests to LAYERLEAK_REGISTRY_AUTH_URL', async () => {
    const name = uniqueRepository('hub').replace('test/', '')
    await pushImage(inject('registryHost'), `library/${name}`, image, ['3'])
    proxy.setAuth({ type: 'bearer' })
    // the same listener under another name: the realm in the challenge says 127.0.0.1, the override localhost
    const authUrl = `http://${proxy.host.replace('127.0.0.1', 'localhost')}/token`
    const manifest = await client({ registryBaseUrl: `http://${proxy.host}`, authUrl }).getManifest({ registry: 'docker.io', repository: `library/${name}` }, '3')
    expect(manifest.digest).toBe(image.manifest.digest)
    expect(proxy.tokenRequests.map((request) => request.headers.host)).toEqual([new URL(authUrl).host])
  })

  it('accepts access_token and defaults expires_in', async () => {
    proxy.setAuth({ type: 'bearer', tokenField: 'access_token', sendExpiresIn: false })
    const registry = client()
    await registry.getManifest(repo(), 'v1')
    await registry.getManifest(repo(), 'v1')
    expect(proxy.tokenRequests).toHaveLength(1)
  })

  it('gets a new token when the cached one has expired', async () => {
    proxy.setAuth({ type: 'bearer', expiresIn: 1 })
    const registry = client()
    await registry.getManifest(repo(), 'v1')
    await new Promise((resolve) => setTimeout(resolve, 1100))
    await registry.getManifest(repo(), 'v1')
    expect(proxy.tokenRequests).toHaveLength(2)
    // the second manifest request went out with the new token: no 401 in between
    expect(hits(manifestPath).map((request) => request.headers.authorization)).toEqual([undefined, 'Bearer token-1', 'Bearer token-2'])
  })

  it('refreshes once when the registry refuses a cached token', async () => {
    proxy.setAuth({ type: 'bearer', expiresIn: 3600 })
    const registry = client()
    await registry.getManifest(repo(), 'v1')
    proxy.revokeTokens()
    await registry.getManifest(repo(), 'v1')
    expect(proxy.tokenRequests).toHaveLength(2)
    expect(hits(manifestPath).map((request) => request.headers.authorization)).toEqual([undefined, 'Bearer token-1', 'Bearer token-1', 'Bearer token-2'])
  })

  it('sends credentials to a token endpoint that demands them', async () => {
    proxy.setAuth({ type: 'bearer', username: 'ci', password: 's3cret' })
    await client({ username: 'ci', password: 's3cret' }).getManifest(repo(), 'v1')
    expect(proxy.tokenRequests.map((request) => request.headers.authorization)).toEqual([`Basic ${Buffer.from('ci:s3cret').toString('base64')}`])
  })

  it('fails with UNAUTHORIZED saying credentials are needed when the token endpoint demands them', async () => {
    proxy.setAuth({ type: 'bearer', username: 'ci', password: 's3cret' })
    const error = await failure(client().getManifest(repo(), 'v1'))
    expect(error.code).toBe('UNAUTHORIZED')
    expect(error.message).toMatch(/requires credentials.*docker login/)
  })

  it('exchanges an identity token with an OAuth2 POST', async () => {
    proxy.setAuth({ type: 'bearer', refreshToken: 'refresh-me', tokenField: 'access_token' })
    const credentials = { get: async () => ({ identityToken: 'refresh-me' }) }
    await createRegistryClient({ credentials }).getManifest(repo(), 'v1')
    expect(proxy.tokenRequests).toHaveLength(1)
    expect(proxy.tokenRequests[0]).toMatchObject({ method: 'POST', form: { grant_type: 'refresh_token', refresh_token: 'refresh-me', service: 'fault-proxy', scope: `repository:${repository}:pull` } })
  })

  it('fails with UNAUTHORIZED when a fresh token is refused too', async () => {
    proxy.setAuth({ type: 'bearer' })
    // every token is revoked as soon as it is issued: the manifest request can never pass
    proxy.inject({ path: manifestPath, times: Infinity, action: { status: 401, headers: { 'www-authenticate': `Bearer realm="http://${proxy.host}/token",service="fault-proxy",error="insufficient_scope"` } } })
    const error = await failure(client().getManifest(repo(), 'v1'))
    expect(error.code).toBe('UNAUTHORIZED')
    expect(error.message).toContain('insufficient_scope')
    expect(error.message).toContain('may be private or may not exist')
  })
})

describe('basic auth', () => {
  it('answers a Basic challenge with the credentials', async () => {
    proxy.setAuth({ type: 'basic', username: 'ci', password: 's3cret' })
    await client({ username: 'ci', password: 's3cret' }).getManifest(repo(), 'v1')
    expect(hits(manifestPath).map((request) => request.headers.authorization)).toEqual([undefined, `Basic ${Buffer.from('ci:s3cret').toString('base64')}`])
  })

  it('fails with UNAUTHORIZED when the credentials are wrong', async () => {
    proxy.setAuth({ type: 'basic', username: 'ci', password: 's3cret' })
    const error = await failure(client({ username: 'ci', password: 'wrong' }).getManifest(repo(), 'v1'))
    expect(error.code).toBe('UNAUTHORIZED')
    expect(error.message).toContain('rejected the credentials')
  })

  it('fails with UNAUTHORIZED when there are no credentials', async () => {
    proxy.setAuth({ type: 'basic', username: 'ci', password: 's3cret' })
    const error = await failure(client().getManifest(repo(), 'v1'))
    expect(error.code).toBe('UNAUTHORIZED')
    expect(error.message).toContain('no credentials were found')
  })

  it('maps 403 to DENIED', async () => {
    proxy.inject({ path: manifestPath, action: { status: 403, body: '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}' } })
    const error = await failure(client().getManifest(repo(), 'v1'))
    expect(error.code).toBe('DENIED')
    expect(error.message).toContain('requested access to the resource is denied')
  })
})

describe('redirects', () => {
  it('follows a blob redirect to another host without the Authorization header', async () => {
    proxy.setAuth({ type: 'bearer' })
    const layer = image.layers[1]
    proxy.inject({ method: 'GET', path: blobPath(layer.digest), action: { redirect: 'other-host' } })
    const target = await firstTarget()
    const bytes = await readAll(await (await target.layers())[1].blob())
    expect(bytes.equals(Buffer.from(layer.bytes))).toBe(true)
    expect(hits(blobPath(layer.digest)).map((request) => request.headers.authorization)).toEqual(['Bearer token-1'])
    expect(proxy.otherRequests).toHaveLength(1)
    expect(proxy.otherRequests[0].path).toBe(`/v2/${repository}/blobs/${layer.digest}`)
    expect(proxy.otherRequests[0].headers.authorization).toBeUndefined()
  })

  it('keeps the Authorization header on a redirect to the same host', async () => {
    proxy.setAuth({ type: 'bearer' })
    const layer = image.layers[1]
    proxy.inject({ method: 'GET', path: blobPath(layer.digest), action: { redirect: 'same-host' } })
    const target = await firstTarget()
    await readAll(await (await target.layers())[1].blob())
    const redirected = proxy.requests.filter((request) => request.path.endsWith('redirected=1'))
    expect(redirected).toHaveLength(1)
    expect(redirected[0].headers.authorization).toMatch(/^Bearer /)
  })
})

describe('broken bodies', () => {
  const big = () => image.layers[0]

  it('resumes a blob whose connection drops part-way, from where it stopped', async () => {
    proxy.inject({ method: 'GET', path: blobPath(big().digest), action: { truncate: 100_000 } })
    const bytes = await readAll(await (await blobLayer()).blob())
    expect(bytes.equals(Buffer.from(big().bytes))).toBe(true)
    expect(hits(blobPath(big().digest)).map((request) => request.headers.range)).toEqual([undefined, 'bytes=100000-'])
  })

  it('fails with NETWORK_ERROR when the blob connection keeps dropping', async () => {
    proxy.inject({ method: 'GET', path: blobPath(big().digest), times: Infinity, action: { truncate: 1000 } })
    const error = await failure(readAll(await (await blobLayer({ attempts: 2 })).blob()))
    expect(error.code).toBe('NETWORK_ERROR')
    expect(error.message).toContain(big().digest)
  })

  it('fails with DIGEST_MISMATCH when a blob ends early but cleanly', async () => {
    proxy.inject({ method: 'GET', path: blobPath(big().digest), action: { shorten: 5000 } })
    const error = await failure(blobLayer().then((layer) => layer.blob()).then(readAll))
    expect(error.code).toBe('DIGEST_MISMATCH')
    expect(error.message).toContain(`${big().size} bytes`)
  })

  it('fails with DIGEST_MISMATCH when a blob is corrupted', async () => {
    proxy.inject({ method: 'GET', path: blobPath(big().digest), action: { corrupt: true } })
    const error = await failure(blobLayer().then((layer) => layer.blob()).then(readAll))
    expect(error.code).toBe('DIGEST_MISMATCH')
    expect(error.message).toContain(big().digest)
  })

  it('fails with DIGEST_MISMATCH when a config is corrupted', async () => {
    proxy.inject({ method: 'GET', path: blobPath(image.config.digest), action: { corrupt: true } })
    const error = await failure(firstTarget().then((target) => target.config()))
    expect(error.code).toBe('DIGEST_MISMATCH')
  })

  it('fails with DIGEST_MISMATCH when a manifest fetched by digest is corrupted', async () => {
    proxy.inject({ path: new RegExp(`/manifests/${image.manifest.digest}$`), action: { corrupt: true } })
    const error = await failure(client().getManifest(repo(), image.manifest.digest))
    expect(error.code).toBe('DIGEST_MISMATCH')
  })

  it('fails with DIGEST_MISMATCH when a manifest fetched by tag does not match its Docker-Content-Digest', async () => {
    proxy.inject({ path: manifestPath, action: { corrupt: true } })
    const error = await failure(client().getManifest(repo(), 'v1'))
    expect(error.code).toBe('DIGEST_MISMATCH')
    expect(error.message).toContain('Docker-Content-Digest')
  })

  it('resumes a blob that stalls past the idle timeout', async () => {
    proxy.inject({ method: 'GET', path: blobPath(big().digest), action: { stall: { after: 50_000, ms: 2000 } } })
    const bytes = await readAll(await (await blobLayer({ blobIdleTimeoutMs: 500 })).blob())
    expect(bytes.equals(Buffer.from(big().bytes))).toBe(true)
    expect(hits(blobPath(big().digest))[1]?.headers.range).toMatch(/^bytes=\d+-$/)
  })

  it('fails with TIMEOUT when a blob keeps stalling', async () => {
    proxy.inject({ method: 'GET', path: blobPath(big().digest), times: Infinity, action: { stall: { after: 1000, ms: 2000 } } })
    const error = await failure(blobLayer({ blobIdleTimeoutMs: 200, attempts: 2 }).then((layer) => layer.blob()).then(readAll))
    expect(error.code).toBe('TIMEOUT')
  })
})

describe('limits', () => {
  it('fails with LIMIT_EXCEEDED when a manifest is larger than max_manifest_bytes', async () => {
    const error = await failure(firstTarget({}, { ...defaultLimits, maxManifestBytes: 100 }))
    expect(error.code).toBe('LIMIT_EXCEEDED')
    expect(error.message).toContain('max_manifest_bytes')
    expect(error.message).toContain(`${proxy.host}/v2/${repository}/manifests/v1`)
  })

  it('stops reading a manifest without Content-Length at the limit', async () => {
    const huge = JSON.stringify({ schemaVersion: 2, padding: 'x'.repeat(200_000) })
    // Node sends a body given in pieces as chunked: no Content-Length to judge by up front
    proxy.inject({ path: manifestPath, action: { respond: { status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'transfer-encoding': 'chunked' }, body: huge } } })
    const error = await failure(client().getManifest(repo(), 'v1', { maxBytes: 1000 }))
    expect(error.code).toBe('LIMIT_EXCEEDED')
  })

  it('refuses a tag list whose next page is on another host', async () => {
    proxy.inject({ path: /\/tags\/list/, action: { respond: { status: 200, headers: { 'content-type': 'application/json', link: '<https://elsewhere.example/v2/x/tags/list?last=a>; rel="next"' }, body: '{"tags":["a"]}' } } })
    const error = await failure(client().listTags(repo()))
    expect(error.code).toBe('REGISTRY_ERROR')
    expect(error.message).toContain('elsewhere.example')
  })
})
