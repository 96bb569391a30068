import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Layer, Target } from '../core/contracts.ts'
import { isLayerleakError } from '../core/errors.ts'
import { defaultLimits, type Limits } from '../core/limits.ts'
import { MediaTypes } from '../core/media-types.ts'
import type { Diagnostic } from '../core/result.ts'
import { buildImage, buildIndex } from '../plugins/sources/image-builder.ts'
import { registrySource, type RegistrySourceOptions } from '../plugins/sources/registry.ts'
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.ts'
import { startPaginatingProxy } from './support/paginating-proxy.ts'
import { pushImage, uniqueRepository } from './support/push.ts'

const host = () => inject('registryHost')
const source = (options: RegistrySourceOptions = {}) => registrySource({ retryBaseDelayMs: 5, env: {}, ...options })

const resolveAll = async (reference: string, options: { platform?: string; limits?: Partial<Limits>; sourceOptions?: RegistrySourceOptions } = {}) => {
  const diagnostics: Diagnostic[] = []
  const targets: Target[] = []
  const resolve = source(options.sourceOptions).resolve(reference, {
    limits: { ...defaultLimits, ...options.limits },
    report: (diagnostic) => diagnostics.push(diagnostic),
    ...(options.platform ? { platform: options.platform } : {}),
  })
  for await (const target of resolve) targets.push(target)
  return { targets, diagnostics }
}

const failure = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (error) {
    return error as Error & { code: string }
  }
  throw new Error('expected a failure')
}

const text = (chunks: Uint8Array[]) => Buffer.concat(chunks).toString('utf8')

/** path -> content of every file in a layer */
const filesOf = async (layer: Layer): Promise<Record<string, string>> => {
  const files: Record<string, string> = {}
  for await (const entry of layer.entries()) {
    const chunks: Uint8Array[] = []
    for await (const chunk of entry.body) chunks.push(chunk)
    if (entry.type === 'file') files[entry.path] = text(chunks)
  }
  return files
}

const arm64 = { os: 'linux', architecture: 'arm64', variant: 'v8' }

describe('the registry source', () => {
  it('resolves an OCI image by tag: manifest, platform from the config, config fields and layer files', async () => {
    const repository = uniqueRepository('oci-single')
    const image = await buildImage({
      env: ['API_URL=https://example.test'],
      layers: [{ files: [{ path: 'etc/app.conf', content: 'one' }] }, { files: [{ path: 'srv/readme.txt', content: 'two' }] }],
    })
    await pushImage(host(), repository, image, ['v1'])
    const { targets } = await resolveAll(`${host()}/${repository}:v1`)
    expect(targets).toHaveLength(1)
    const [target] = targets
    expect(target).toMatchObject({
      reference: `${host()}/${repository}:v1`,
      repository: `${host()}/${repository}`,
      registry: host(),
      resolvedDigest: image.manifest.digest,
      resolvedMediaType: MediaTypes.ociManifest,
      tags: ['v1'],
      platform: { os: 'linux', architecture: 'amd64' },
      manifest: { digest: image.manifest.digest, mediaType: MediaTypes.ociManifest, size: image.manifest.size },
    })
    const config = await target.config()
    expect(config.digest).toBe(image.config.digest)
    expect(config.env).toEqual(['API_URL=https://example.test'])
    const layers = await target.layers()
    expect(layers.map((layer) => [layer.index, layer.digest])).toEqual(image.layers.map((layer, i) => [i, layer.digest]))
    expect(await filesOf(layers[0])).toEqual({ 'etc/app.conf': 'one' })
    expect(await filesOf(layers[1])).toEqual({ 'srv/readme.txt': 'two' })
  })

  it('reads Docker schema2 images', async () => {
    const repository = uniqueRepository('docker-single')
    const image = await buildImage({ format: 'docker', layers: [{ files: [{ path: 'app/run.sh', content: 'echo hi' }] }] })
    await pushImage(host(), repository, image, ['v1'])
    const [target] = (await resolveAll(`${host()}/${repository}:v1`)).targets
    expect(target.resolvedMediaType).toBe(MediaTypes.dockerManifest)
    expect(target.manifest.mediaType).toBe(MediaTypes.dockerManifest)
    const [layer] = await target.layers()
    expect(layer.mediaType).toBe(MediaTypes.dockerLayer)
    expect(await filesOf(layer)).toEqual({ 'app/run.sh': 'echo hi' })
  })

  it('asks for latest when the reference names neither tag nor digest', async () => {
    const repository = uniqueRepository('bare')
    const image = await buildImage({ layers: [{ files: [{ path: 'a', content: 'a' }] }] })
    await pushImage(host(), repository, image, ['latest'])
    const [target] = (await resolveAll(`${host()}/${repository}`)).targets
    expect(target.reference).toBe(`${host()}/${repository}:latest`)
    expect(target.manifest.digest).toBe(image.manifest.digest)
  })

  it('fetches by digest when a reference has a tag and a digest, and keeps the tag', async () => {
    const repository = uniqueRepository('tag-digest')
    const old = await buildImage({ layers: [{ files: [{ path: 'v', content: 'old' }] }] })
    const current = await buildImage({ layers: [{ files: [{ path: 'v', content: 'new' }] }] })
    await pushImage(host(), repository, old)
    await pushImage(host(), repository, current, ['v1'])
    const [target] = (await resolveAll(`${host()}/${repository}:v1@${old.manifest.digest}`)).targets
    expect(target.manifest.digest).toBe(old.manifest.digest)
    expect(target.tags).toEqual(['v1'])
    expect(await filesOf((await target.layers())[0])).toEqual({ v: 'old' })
  })

  describe('a multi-platform index with attestation manifests', () => {
    let repository: string
    let index: Awaited<ReturnType<typeof buildIndex>>
    beforeAll(async () => {
      repository = uniqueRepository('multi-arch')
      const amd64 = await buildImage({ layers: [{ files: [{ path: 'arch', content: 'amd64' }] }] })
      const arm = await buildImage({ platform: arm64, layers: [{ files: [{ path: 'arch', content: 'arm64' }] }] })
      index = buildIndex([amd64, arm], { attestations: true })
      await pushImage(host(), repository, index, ['multi'])
    })

    it('yields one target per real platform and reports the attestations', async () => {
      const { targets, diagnostics } = await resolveAll(`${host()}/${repository}:multi`)
      expect(targets.map((target) => target.platform)).toEqual([{ os: 'linux', architecture: 'amd64' }, arm64])
      expect(targets.map((target) => target.manifest.digest)).toEqual(index.images.map((image) => image.manifest.digest))
      expect(targets.every((target) => target.resolvedDigest === index.index.digest && target.resolvedMediaType === MediaTypes.ociIndex)).toBe(true)
      expect(diagnostics.filter((d) => d.code === 'attestation_skipped').map((d) => d.subject)).toEqual(index.attestations.map((a) => a.manifest.digest))
      expect(await filesOf((await targets[1].layers())[0])).toEqual({ arch: 'arm64' })
    })

    it('narrows to the platform asked for', async () => {
      const { targets } = await resolveAll(`${host()}/${repository}:multi`, { platform: 'linux/arm64' })
      expect(targets).toHaveLength(1)
      expect(targets[0].platform).toEqual(arm64)
      expect(targets[0].manifest.digest).toBe(index.images[1].manifest.digest)
    })

    it('fails with PLATFORM_NOT_FOUND listing what the index has', async () => {
      const error = await failure(resolveAll(`${host()}/${repository}:multi`, { platform: 'linux/s390x' }))
      expect(error.code).toBe('PLATFORM_NOT_FOUND')
      expect(error.message).toContain('available: linux/amd64, linux/arm64/v8')
    })
  })

  it('reads a Docker manifest list', async () => {
    const repository = uniqueRepository('manifest-list')
    const images = await Promise.all(
      [{ os: 'linux', architecture: 'amd64' }, arm64].map((platform) => buildImage({ format: 'docker', platform, layers: [{ files: [{ path: 'p', content: platform.architecture }] }] })),
    )
    const list = buildIndex(images, { format: 'docker' })
    await pushImage(host(), repository, list, ['v1'])
    const { targets } = await resolveAll(`${host()}/${repository}:v1`)
    expect(targets.map((target) => target.resolvedMediaType)).toEqual([MediaTypes.dockerManifestList, MediaTypes.dockerManifestList])
    expect(targets.map((target) => target.manifest.mediaType)).toEqual([MediaTypes.dockerManifest, MediaTypes.dockerManifest])
  })

  it('fails with PLATFORM_NOT_FOUND when a single-platform image is for another platform', async () => {
    const repository = uniqueRepository('single-platform')
    await pushImage(host(), repository, await buildImage({ layers: [{ files: [{ path: 'a' }] }] }), ['v1'])
    const error = await failure(resolveAll(`${host()}/${repository}:v1`, { platform: 'linux/arm64' }))
    expect(error.code).toBe('PLATFORM_NOT_FOUND')
    expect(error.message).toContain('linux/amd64')
  })

  it('fails with NOT_FOUND naming the manifest, or the repository, and the host', async () => {
    const repository = uniqueRepository('not-found')
    await pushImage(host(), repository, await buildImage({ layers: [{ files: [{ path: 'a' }] }] }), ['v1'])
    const missingTag = await failure(resolveAll(`${host()}/${repository}:nope`))
    expect(missingTag.code).toBe('NOT_FOUND')
    expect(missingTag.message).toContain(`manifest ${host()}/${repository}:nope not found`)
    expect(missingTag.message).toContain(`${host()}/v2/${repository}/manifests/nope`)
    const missingRepository = await failure(resolveAll(`${host()}/test/never-pushed-${Date.now()}:v1`))
    expect(missingRepository.code).toBe('NOT_FOUND')
    expect(missingRepository.message).toMatch(/NAME_UNKNOWN|MANIFEST_UNKNOWN/)
  })

  it('fails a target, not the scan, when its config is larger than max_config_bytes', async () => {
    const repository = uniqueRepository('big-config')
    const image = await buildImage({ env: [`BIG=${'x'.repeat(4096)}`], layers: [{ files: [{ path: 'a' }] }] })
    await pushImage(host(), repository, image, ['v1'])
    const { targets } = await resolveAll(`${host()}/${repository}:v1`, { limits: { maxConfigBytes: 1024 } })
    const error = await failure(targets[0].config())
    expect(error.code).toBe('LIMIT_EXCEEDED')
    expect(error.message).toContain('max_config_bytes')
  })

  it('sends Docker Hub references to LAYERLEAK_REGISTRY_BASE_URL, with the library/ prefix', async () => {
    const name = uniqueRepository('hub').replace('test/', '')
    const image = await buildImage({ layers: [{ files: [{ path: 'hub', content: 'mirror' }] }] })
    await pushImage(host(), `library/${name}`, image, ['3.20'])
    const { targets } = await resolveAll(`${name}:3.20`, { sourceOptions: { registryBaseUrl: `http://${host()}` } })
    expect(targets[0]).toMatchObject({ reference: `docker.io/library/${name}:3.20`, registry: 'docker.io', repository: `docker.io/library/${name}` })
    expect(targets[0].manifest.digest).toBe(image.manifest.digest)
  })

  it('lists tags across pages following the Link header', async () => {
    const repository = uniqueRepository('tags')
    const image = await buildImage({ layers: [{ files: [{ path: 'a' }] }] })
    const tags = ['a1', 'b2', 'c3', 'd4', 'e5']
    await pushImage(host(), repository, image, tags)
    // Debian's registry does not page tags/list: a paginating proxy does, as Docker Hub does, and
    // a recording proxy in front of it counts the pages asked for
    const paginator = await startPaginatingProxy(host())
    const recorder = await startFaultProxy(paginator.host)
    try {
      const { client } = source()
      const repo = { registry: recorder.host, repository }
      const all = await client.listTags(repo, { pageSize: 2 })
      expect([...all.tags].sort()).toEqual(tags)
      expect(all.truncated).toBe(false)
      expect(recorder.requests.filter((request) => request.path.includes('/tags/list'))).toHaveLength(3)
      const capped = await client.listTags(repo, { pageSize: 2, maxTags: 3 })
      expect(capped.tags).toEqual(all.tags.slice(0, 3))
      expect(capped.truncated).toBe(true)
    } finally {
      await recorder.close()
      await paginator.close()
    }
  })

  it('accepts registry references and leaves other transports to their sources', () => {
    const { accepts } = source()
    expect([`${host()}/a/b:c`, 'alpine', 'docker://alpine:3', 'ghcr.io/org/app@sha256:' + 'a'.repeat(64)].map(accepts)).toEqual([true, true, true, true])
    expect(['oci:/tmp/layout:tag', 'docker-archive:image.tar', './image.tar', '/tmp/layout', 'Not A Reference'].map(accepts)).toEqual([false, false, false, false, false])
  })

  it('rejects invalid options with INVALID_CONFIG', () => {
    expect(() => registrySource({ attempts: 0 })).toThrow(/attempts/)
    expect(() => registrySource({ password: 'secret' })).toThrow(/password needs a username/)
    expect(isLayerleakError((() => { try { registrySource({ registryBaseUrl: 'not a url' }) } catch (e) { return e } })(), 'INVALID_CONFIG')).toBe(true)
  })

  describe('manifests the test registry refuses to store, served by the proxy as other registries would', () => {
    let proxy: FaultProxy
    beforeAll(async () => {
      proxy = await startFaultProxy(host())
    })
    afterAll(() => proxy.close())

    it('fails on a Docker schema1 manifest with UNSUPPORTED_SCHEMA', async () => {
      // distribution 2.8 answers MANIFEST_INVALID to an unsigned schema1 push
      const schema1 = JSON.stringify({ schemaVersion: 1, name: 'old/app', tag: 'v1', architecture: 'amd64', fsLayers: [], history: [], signatures: [] })
      proxy.inject({ path: /\/manifests\/v1$/, action: { respond: { status: 200, headers: { 'content-type': MediaTypes.dockerManifestV1Signed }, body: schema1 } } })
      const error = await failure(resolveAll(`${proxy.host}/old/app:v1`))
      expect(error.code).toBe('UNSUPPORTED_SCHEMA')
      expect(error.message).toContain('schema1')
    })

    it('reports foreign layers and leaves them out of the layers, keeping the others at their positions', async () => {
      const repository = uniqueRepository('foreign')
      const image = await buildImage({ format: 'docker', layers: [{ files: [{ path: 'app.exe', content: 'MZ' }] }] })
      await pushImage(host(), repository, image)
      // registries refuse foreign URLs unless configured to allow them: the proxy serves the manifest
      const foreign = { mediaType: MediaTypes.dockerLayerForeign, digest: `sha256:${'f'.repeat(64)}`, size: 1024, urls: ['https://mcr.example.test/windows/base.tar.gz'] }
      const manifest = JSON.parse(Buffer.from(image.manifest.bytes).toString('utf8'))
      manifest.layers.unshift(foreign)
      proxy.inject({ path: /\/manifests\/win$/, action: { respond: { status: 200, headers: { 'content-type': MediaTypes.dockerManifest }, body: JSON.stringify(manifest) } } })
      const { targets, diagnostics } = await resolveAll(`${proxy.host}/${repository}:win`)
      expect(diagnostics).toEqual([expect.objectContaining({ code: 'foreign_layer_skipped', scope: 'layer', subject: foreign.digest })])
      expect(diagnostics[0].message).toContain('mcr.example.test')
      const layers = await targets[0].layers()
      expect(layers.map((layer) => [layer.index, layer.digest])).toEqual([[1, image.layers[0].digest]])
      expect(await filesOf(layers[0])).toEqual({ 'app.exe': 'MZ' })
    })

    it('fails only the platform whose manifest cannot be fetched', async () => {
      const repository = uniqueRepository('broken-platform')
      const images = await Promise.all([{ os: 'linux', architecture: 'amd64' }, arm64].map((platform) => buildImage({ platform, layers: [{ files: [{ path: 'p' }] }] })))
      await pushImage(host(), repository, buildIndex(images), ['v1'])
      proxy.inject({ path: new RegExp(`/manifests/${images[1].manifest.digest}$`), action: { corrupt: true } })
      const { targets } = await resolveAll(`${proxy.host}/${repository}:v1`)
      expect(targets.map((target) => target.platform)).toEqual([{ os: 'linux', architecture: 'amd64' }, arm64])
      expect((await targets[0].config()).digest).toBe(images[0].config.digest)
      expect((await failure(targets[1].config())).code).toBe('DIGEST_MISMATCH')
    })

    it('fails with PLATFORM_NOT_FOUND on an index that holds no platform image', async () => {
      const index = buildIndex([await buildImage({ layers: [{ files: [{ path: 'a' }] }] })], { attestations: true })
      const onlyAttestations = { ...JSON.parse(Buffer.from(index.index.bytes).toString('utf8')) }
      onlyAttestations.manifests = onlyAttestations.manifests.slice(1)
      proxy.inject({ path: /\/manifests\/sbom$/, action: { respond: { status: 200, headers: { 'content-type': MediaTypes.ociIndex }, body: JSON.stringify(onlyAttestations) } } })
      const error = await failure(resolveAll(`${proxy.host}/any/repo:sbom`))
      expect(error.code).toBe('PLATFORM_NOT_FOUND')
      expect(error.message).toContain('without platform images')
    })
  })
})
