import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { fakeAwsKeyPair, fakeGitHubToken } from '../cli/demo-image.ts'
import type { Limits } from '../core/limits.ts'
import type { ScanResult } from '../core/result.ts'
import { scanReference } from '../core/scan.ts'
import { builtinDetectors } from '../plugins/detectors/catalog.ts'
import { fixturesFilter } from '../plugins/filters/fixtures.ts'
import { type BuiltImage, type BuiltIndex, buildImage, buildIndex, type LayerSpec } from '../plugins/sources/image-builder.ts'
import { registrySource, type RegistrySourceOptions } from '../plugins/sources/registry.ts'
import { parseRateLimitRemaining } from '../plugins/sources/registry-rate-limit.ts'
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.ts'
import { type PaginatingProxy, startPaginatingProxy } from './support/paginating-proxy.ts'
import { pushImage, putManifest, uniqueRepository } from './support/push.ts'
import { type QuotaProxy, startQuotaProxy } from './support/quota-proxy.ts'

const host = () => inject('registryHost')

interface SweepOptions {
  limits?: Partial<Limits>
  source?: RegistrySourceOptions
}

/** A sweep as the CLI runs it: built-in detectors and filters, one scanReference call. */
const sweep = (reference: string, options: SweepOptions = {}) => {
  const source = registrySource({ retryBaseDelayMs: 5, env: {}, tagPageSize: 40, ...options.source })
  const result = scanReference({
    reference,
    allTags: true,
    sources: [source],
    detectors: builtinDetectors,
    filters: [fixturesFilter()],
    ...(options.limits ? { limits: options.limits } : {}),
  })
  return { source, result }
}

const tagsOf = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`)

/** Tags a pushed image many times the cheap way: the same manifest bytes PUT under each tag. */
const pushTagged = async (repository: string, image: BuiltImage | BuiltIndex, tags: string[]): Promise<string> => {
  const digest = await pushImage(host(), repository, image, tags.slice(0, 1))
  const top = 'index' in image ? image.index : image.manifest
  for (let i = 1; i < tags.length; i += 10) {
    await Promise.all(tags.slice(i, i + 10).map((tag) => putManifest(`http://${host()}`, repository, tag, top)))
  }
  return digest
}

/** detector:fingerprint of every finding, per manifest digest */
const fingerprintsByManifest = (result: ScanResult) => {
  const byManifest = new Map<string, string[]>()
  for (const finding of [...result.findings, ...result.suppressed_findings]) {
    byManifest.set(finding.manifest_digest, [...(byManifest.get(finding.manifest_digest) ?? []), `${finding.detector_name}:${finding.fingerprint}`].sort())
  }
  return byManifest
}

const requestsTo = (proxy: FaultProxy, method: string, pattern: RegExp) => proxy.requests.filter((request) => request.method === method && pattern.test(request.path))

describe('a repository of 150 tags over 3 images (one of them multi-platform) sharing a base layer', () => {
  const aws = fakeAwsKeyPair()
  const base: LayerSpec = {
    createdBy: 'ADD rootfs.tar /',
    files: [
      { path: 'etc/os-release', content: 'NAME=Sweep Linux\n' },
      { path: 'etc/base.env', content: `AWS_ACCESS_KEY_ID=${aws.id}\nAWS_SECRET_ACCESS_KEY=${aws.secret}\n` },
    ],
  }
  const app = (name: string): LayerSpec => ({ createdBy: `COPY ${name} /app`, files: [{ path: `app/${name}/.git-credentials`, content: `https://ci:${fakeGitHubToken()}@github.com\n` }] })
  const repository = uniqueRepository('sweep')
  const tags = { a: tagsOf('a', 50), b: tagsOf('b', 50), c: tagsOf('c', 50) }
  const digests = { a: '', b: '', c: '' }
  let images: { a: BuiltImage; b: BuiltImage; c: BuiltIndex }
  /** what scanning each digest on its own finds */
  const expected = new Map<string, string[]>()
  /** the test registry does not page tags/list: this one does, as Docker Hub and distribution 3 do */
  let paginator: PaginatingProxy
  let proxy: FaultProxy

  beforeAll(async () => {
    images = {
      a: await buildImage({ layers: [base, app('a')] }),
      b: await buildImage({ layers: [base, app('b')] }),
      c: buildIndex([
        await buildImage({ layers: [base, app('c-amd64')] }),
        await buildImage({ platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layers: [base, app('c-arm64')] }),
      ]),
    }
    digests.a = await pushTagged(repository, images.a, tags.a)
    digests.b = await pushTagged(repository, images.b, tags.b)
    digests.c = await pushTagged(repository, images.c, tags.c)
    for (const digest of Object.values(digests)) {
      const single = await scanReference({ reference: `${host()}/${repository}@${digest}`, sources: [registrySource({ env: {} })], detectors: builtinDetectors, filters: [fixturesFilter()] })
      for (const [manifest, fingerprints] of fingerprintsByManifest(single)) expected.set(manifest, fingerprints)
    }
    paginator = await startPaginatingProxy(host())
    proxy = await startFaultProxy(paginator.host)
  })
  afterEach(() => proxy.reset())
  afterAll(() => Promise.all([proxy.close(), paginator.close()]))

  const reference = () => `${proxy.host}/${repository}`
  const baseLayer = () => images.a.layers[0].digest

  it('scans each digest once, all its platforms, and reports every tag with the digest it names', async () => {
    const { result } = sweep(reference())
    const swept = await result
    expect(swept).toMatchObject({ mode: 'repository', status: 'completed', requested_reference: reference(), resolved_reference: reference(), target_count: 3, manifest_count: 4 })
    expect(swept.targets.map((target) => [target.digest, target.tags])).toEqual([
      [digests.a, tags.a],
      [digests.b, tags.b],
      [digests.c, tags.c],
    ])
    expect(swept.targets[2].platform_results.map((platform) => platform.platform)).toEqual(['linux/amd64', 'linux/arm64/v8'])
    expect(swept.tag_results).toHaveLength(150)
    for (const [key, names] of Object.entries(tags)) {
      for (const tag of names) expect(swept.tag_results).toContainEqual({ tag, digest: digests[key as keyof typeof digests], status: 'completed' })
    }
    // the same findings as scanning each digest alone: nothing repeated per tag, nothing lost
    expect(fingerprintsByManifest(swept)).toEqual(expected)
  })

  it('lists tags page by page with ?n= and Link, resolves them with HEAD, and GETs each manifest once', async () => {
    await sweep(reference()).result
    const pages = requestsTo(proxy, 'GET', /\/tags\/list/)
    expect(pages).toHaveLength(4)
    expect(pages.every((page) => /[?&]n=40(&|$)/.test(page.path))).toBe(true)
    expect(pages.slice(1).every((page) => /[?&]last=/.test(page.path))).toBe(true)
    expect(requestsTo(proxy, 'HEAD', /\/manifests\/[abc]-\d{3}$/)).toHaveLength(150)
    // by tag never: a manifest GET costs Docker Hub quota, a HEAD does not
    expect(requestsTo(proxy, 'GET', /\/manifests\/[abc]-\d{3}$/)).toHaveLength(0)
    const gets = requestsTo(proxy, 'GET', /\/manifests\/sha256:/).map((request) => request.path.replace(/.*\/manifests\//, ''))
    const platforms = images.c.images.map((image) => image.manifest.digest)
    expect(gets.sort()).toEqual([digests.a, digests.b, digests.c, ...platforms].sort())
  })

  it('reads a registry that ignores ?n= and lists tags unsorted (distribution 2.8) in one page, in tag order', async () => {
    const swept = await sweep(`${host()}/${repository}`).result
    expect(swept.status).toBe('completed')
    expect(swept.targets.map((target) => [target.digest, target.tags])).toEqual([
      [digests.a, tags.a],
      [digests.b, tags.b],
      [digests.c, tags.c],
    ])
  })

  it('downloads and scans a base layer shared by every image once', async () => {
    const swept = await sweep(reference()).result
    expect(requestsTo(proxy, 'GET', new RegExp(`/blobs/${baseLayer()}$`))).toHaveLength(1)
    // 4 platform images of 2 layers: the base is read once and found in the cache 3 times
    expect(swept.coverage).toMatchObject({ layers_total: 8, layers_scanned: 5, layers_cached: 3, layers_failed: 0 })
    const baseFindings = swept.findings.filter((finding) => finding.occurrences.some((occurrence) => occurrence.layer_digest === baseLayer()))
    expect(new Set(baseFindings.map((finding) => finding.manifest_digest)).size).toBe(4)
  })

  it('asks for the manifest itself when HEAD gives no digest or is not implemented', async () => {
    proxy.inject(
      { method: 'HEAD', path: /\/manifests\/a-007$/, action: { respond: { status: 200, headers: { 'content-type': images.a.manifest.mediaType }, body: '' } } },
      { method: 'HEAD', path: /\/manifests\/c-008$/, action: { status: 405, body: '{"errors":[{"code":"UNSUPPORTED","message":"HEAD not supported"}]}' } },
    )
    const swept = await sweep(reference()).result
    expect(swept.status).toBe('completed')
    expect(swept.tag_results).toContainEqual({ tag: 'a-007', digest: digests.a, status: 'completed' })
    expect(swept.tag_results).toContainEqual({ tag: 'c-008', digest: digests.c, status: 'completed' })
    expect(requestsTo(proxy, 'GET', /\/manifests\/[abc]-\d{3}$/).map((request) => request.path.split('/').pop()).sort()).toEqual(['a-007', 'c-008'])
  })

  it('goes on past tags that fail: deleted after the listing, or a registry error after retries', async () => {
    proxy.inject(
      { method: 'HEAD', path: /\/manifests\/b-010$/, action: { status: 404, body: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}' } },
      { method: 'HEAD', path: /\/manifests\/b-020$/, times: Infinity, action: { status: 500 } },
    )
    const swept = await sweep(reference(), { source: { attempts: 2 } }).result
    expect(swept.status).toBe('partial')
    expect(swept.target_count).toBe(3)
    expect(swept.tag_results).toHaveLength(150)
    const failed = swept.tag_results.filter((tag) => tag.status === 'failed')
    expect(failed.map((tag) => [tag.tag, tag.digest])).toEqual([
      ['b-010', ''],
      ['b-020', ''],
    ])
    expect(failed[0].error).toMatch(/not found/)
    expect(failed[1].error).toMatch(/500 after 2 attempts/)
    expect(swept.targets[1].tags).toEqual(tags.b.filter((tag) => tag !== 'b-010' && tag !== 'b-020'))
    expect(fingerprintsByManifest(swept)).toEqual(expected)
    expect(swept.diagnostics).toContainEqual(expect.objectContaining({ code: 'tag_failed', scope: 'tag', subject: 'b-020' }))
  })

  it('fails the tags of a digest whose manifest is corrupt, and scans the others', async () => {
    proxy.inject({ method: 'GET', path: new RegExp(`/manifests/${digests.b}$`), times: Infinity, action: { corrupt: true } })
    const swept = await sweep(reference()).result
    expect(swept.status).toBe('partial')
    expect(swept.targets.map((target) => [target.digest, target.status])).toEqual([
      [digests.a, 'completed'],
      [digests.b, 'failed'],
      [digests.c, 'completed'],
    ])
    const bTags = swept.tag_results.filter((tag) => tag.tag.startsWith('b-'))
    expect(bTags).toHaveLength(50)
    // the bytes do not hash to the digest the tags named
    expect(bTags.every((tag) => tag.status === 'failed' && tag.digest === digests.b && /expected sha256:\w+, got sha256:/.test(tag.error ?? ''))).toBe(true)
    expect(swept.tag_results.filter((tag) => tag.status === 'completed')).toHaveLength(100)
    expect([...fingerprintsByManifest(swept).keys()].sort()).toEqual([...expected.keys()].filter((digest) => digest !== digests.b).sort())
  })

  it('stops listing at max_repository_tags and keeps what those tags hold', async () => {
    const swept = await sweep(reference(), { limits: { maxRepositoryTags: 60 } }).result
    expect(swept.status).toBe('partial')
    expect(swept.coverage.limits_hit).toEqual(['max_repository_tags'])
    expect(swept.diagnostics).toContainEqual(expect.objectContaining({ code: 'limit_exceeded', scope: 'repository', message: expect.stringMatching(/^max_repository_tags \(60\)/) }))
    expect(swept.tag_results.map((tag) => tag.tag)).toEqual([...tags.a, ...tags.b.slice(0, 10)])
    expect(swept.targets.map((target) => target.digest)).toEqual([digests.a, digests.b])
    expect([...fingerprintsByManifest(swept).keys()].sort()).toEqual([digests.a, digests.b].sort())
    // the listing itself stopped: no third page was asked for
    expect(requestsTo(proxy, 'GET', /\/tags\/list/)).toHaveLength(2)
  })

  it('scans at most max_repository_targets digests and says which tags were left out', async () => {
    const swept = await sweep(reference(), { limits: { maxRepositoryTargets: 2 } }).result
    expect(swept.status).toBe('partial')
    expect(swept.coverage.limits_hit).toEqual(['max_repository_targets'])
    expect(swept.targets.map((target) => target.digest)).toEqual([digests.a, digests.b])
    expect(swept.tag_results).toHaveLength(100)
    const limit = swept.diagnostics.find((diagnostic) => diagnostic.code === 'limit_exceeded')
    expect(limit?.message).toMatch(/^max_repository_targets \(2\) reached: 1 more digest .*c-000/)
    expect(requestsTo(proxy, 'GET', new RegExp(`/manifests/${digests.c}$`))).toHaveLength(0)
    expect(swept.findings.length).toBeGreaterThan(0)
  })

  it('keeps the pages read so far when a later one is larger than max_tag_response_bytes', async () => {
    const oversized = JSON.stringify({ name: repository, tags: Array.from({ length: 1000 }, (_, i) => `padding-${i}`) })
    proxy.inject({ method: 'GET', path: /\/tags\/list\?.*last=/, action: { respond: { status: 200, headers: { 'content-type': 'application/json' }, body: oversized } } })
    const swept = await sweep(reference(), { limits: { maxTagResponseBytes: 4096 } }).result
    expect(swept.status).toBe('partial')
    expect(swept.coverage.limits_hit).toEqual(['max_tag_response_bytes'])
    expect(swept.tag_results.map((tag) => tag.tag)).toEqual(tags.a.slice(0, 40))
    expect(swept.targets.map((target) => target.digest)).toEqual([digests.a])
  })

  it('refuses a next-page link to another host, keeping the tags listed before it', async () => {
    proxy.inject({
      method: 'GET',
      path: /\/tags\/list\?.*last=/,
      action: { respond: { status: 200, headers: { 'content-type': 'application/json', link: `<http://elsewhere.example/v2/${repository}/tags/list?last=b-000&n=40>; rel="next"` }, body: JSON.stringify({ name: repository, tags: ['b-000'] }) } },
    })
    const swept = await sweep(reference()).result
    expect(swept.status).toBe('partial')
    expect(swept.tag_results.map((tag) => tag.tag)).toEqual([...tags.a.slice(0, 40), 'b-000'])
    expect(swept.diagnostics).toContainEqual(expect.objectContaining({ code: 'tag_list_failed', message: expect.stringContaining('elsewhere.example') }))
  })

  it('refuses a reference with a tag or a digest', async () => {
    for (const text of [`${reference()}:a-000`, `${reference()}@${digests.a}`]) {
      const swept = await sweep(text).result
      expect(swept.status).toBe('failed')
      expect(swept.diagnostics[0].message).toMatch(/--all-tags sweeps a whole repository/)
    }
  })

  it('waits out a 429 with Retry-After, pausing the whole host, and completes', async () => {
    proxy.inject({ method: 'HEAD', path: /\/manifests\/a-005$/, action: { status: 429, retryAfter: '1' } })
    const calls: { method: string; url: string; start: number; end: number; status: number }[] = []
    const timedFetch: typeof fetch = async (input, init) => {
      const call = { method: init?.method ?? 'GET', url: String(input), start: performance.now(), end: 0, status: 0 }
      calls.push(call)
      const response = await fetch(input, init)
      Object.assign(call, { end: performance.now(), status: response.status })
      return response
    }
    const swept = await sweep(reference(), { source: { fetch: timedFetch } }).result
    expect(swept.status).toBe('completed')
    expect(swept.tag_results.every((tag) => tag.status === 'completed')).toBe(true)
    const limited = calls.find((call) => call.status === 429)
    expect(limited).toBeDefined()
    const manifestStarts = calls.filter((call) => call.url.includes('/manifests/') && call.start > (limited?.end ?? 0) + 50).map((call) => call.start)
    // nothing new went to the host until Retry-After had passed
    expect(manifestStarts.length).toBeGreaterThan(0)
    expect(Math.min(...manifestStarts) - (limited?.end ?? 0)).toBeGreaterThanOrEqual(900)
  })

  describe('behind a proxy that keeps Docker Hub pull accounting', () => {
    let hub: QuotaProxy
    beforeAll(async () => {
      hub = await startQuotaProxy(paginator.host)
    })
    afterEach(() => hub.reset())
    afterAll(() => hub.close())

    const manifestGets = () => hub.log.filter((request) => request.method === 'GET' && /\/manifests\//.test(request.path))
    const gaps = (starts: number[]) => starts.slice(1).map((start, i) => start - starts[i])

    it('slows down when few pulls are left instead of failing, and spends pulls only on manifest GETs', async () => {
      const options = { source: { rateLimitSlowDownMs: 300, rateLimitLowRemaining: 10 } }
      hub.setQuota({ limit: 100, remaining: 100 })
      expect((await sweep(`${hub.host}/${repository}`, options).result).status).toBe('completed')
      const relaxed = gaps(manifestGets().map((request) => request.start))
      expect(hub.remaining()).toBe(95)

      hub.reset()
      hub.setQuota({ limit: 100, remaining: 8 })
      hub.setLatency(5)
      const { source, result } = sweep(`${hub.host}/${repository}`, options)
      const swept = await result
      expect(swept.status).toBe('completed')
      expect(swept.tag_results.every((tag) => tag.status === 'completed')).toBe(true)
      // 150 HEADs cost nothing; the 5 manifest GETs (3 tops, 2 platforms) cost one each
      expect(hub.remaining()).toBe(3)
      expect(source.client.pacer.state(hub.host).remaining).toBe(3)
      const paced = gaps(manifestGets().map((request) => request.start))
      // 300ms × 10 / remaining between quota-costing requests: at least 300ms, growing as it runs out
      expect(Math.min(...paced)).toBeGreaterThanOrEqual(290)
      expect(Math.max(...relaxed)).toBeLessThan(Math.min(...paced))
      // free requests (the HEADs) kept going in parallel
      expect(hub.maxInFlight()).toBeGreaterThan(1)
    })

    it('keeps at most the configured number of manifest requests in flight per host', async () => {
      hub.setLatency(15)
      const swept = await sweep(`${hub.host}/${repository}`, { source: { maxRequestsPerHost: 3 } }).result
      expect(swept.status).toBe('completed')
      expect(hub.maxInFlight()).toBe(3)
    })
  })
})

describe('rate-limit headers', () => {
  it('reads Docker Hub\'s RateLimit-Remaining and its variants, keeping the tightest window', () => {
    expect(parseRateLimitRemaining('100;w=21600')).toEqual({ remaining: 100, windowSeconds: 21600 })
    expect(parseRateLimitRemaining('7')).toEqual({ remaining: 7 })
    expect(parseRateLimitRemaining('100;w=21600, 3;w=60')).toEqual({ remaining: 3, windowSeconds: 60 })
    expect(parseRateLimitRemaining('soon')).toBeUndefined()
    expect(parseRateLimitRemaining(null)).toBeUndefined()
  })
})
