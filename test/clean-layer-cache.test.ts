import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { fakeGitHubToken } from '../cli/demo-image.ts'
import type { CleanLayerRecord, LayerCache } from '../core/contracts.ts'
import { scanReference } from '../core/scan.ts'
import { builtinDetectors, detectorCatalogVersion } from '../plugins/detectors/catalog.ts'
import { fixturesFilter } from '../plugins/filters/fixtures.ts'
import { type BuiltImage, buildImage, whiteout } from '../plugins/sources/image-builder.ts'
import { builtinArchiveReaders } from '../plugins/sources/nested-archives.ts'
import { registrySource } from '../plugins/sources/registry.ts'
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.ts'
import { pushImage, uniqueRepository } from './support/push.ts'

/** The contract in memory: the pipeline's side of the cache, whatever stores it. */
const memoryLayerCache = (): LayerCache & { records: Map<string, CleanLayerRecord> } => {
  const records = new Map<string, CleanLayerRecord>()
  return {
    records,
    async get(digests, version) {
      return new Map(digests.filter((digest) => records.has(`${version}/${digest}`)).map((digest) => [digest, records.get(`${version}/${digest}`) as CleanLayerRecord]))
    },
    async put(list, version) {
      for (const record of list) records.set(`${version}/${record.digest}`, record)
    },
  }
}

describe('the clean-layer cache across runs', () => {
  let proxy: FaultProxy
  let image: BuiltImage
  let reference: string
  const version = detectorCatalogVersion(builtinDetectors)

  beforeAll(async () => {
    image = await buildImage({
      layers: [
        { files: [{ path: 'usr/share/base.txt', content: 'a base layer with nothing secret in it\n' }] },
        { files: [{ path: 'app/.env', content: `TOKEN=${fakeGitHubToken()}\n` }] },
        { files: [whiteout('app/.env'), { path: 'app/run.sh', content: 'exec app\n' }] },
      ],
    })
    const repository = uniqueRepository('clean-cache')
    await pushImage(inject('registryHost'), repository, image, ['v1'])
    proxy = await startFaultProxy(inject('registryHost'))
    reference = `${proxy.host}/${repository}:v1`
  })
  afterAll(() => proxy.close())

  const scan = (cache: LayerCache, catalogVersion = version) =>
    scanReference({ reference, sources: [registrySource({})], detectors: builtinDetectors, filters: [fixturesFilter()], cleanLayers: cache, detectorCatalogVersion: catalogVersion })
  const blobGets = () => proxy.requests.filter((request) => request.method === 'GET' && /\/blobs\/sha256:/.test(request.path)).map((request) => request.path)

  it('remembers the layers without matches, and only those', async () => {
    const cache = memoryLayerCache()
    await scan(cache)
    expect([...cache.records.values()].map((record) => record.digest).sort()).toEqual([image.layers[0].digest, image.layers[2].digest].sort())
  })

  it('does not download a remembered clean layer again, and still replays its whiteouts', async () => {
    const cache = memoryLayerCache()
    await scan(cache)
    proxy.reset()
    const second = await scan(cache)
    const fetched = blobGets()
    expect(fetched.some((path) => path.includes(image.layers[0].digest))).toBe(false)
    expect(fetched.some((path) => path.includes(image.layers[2].digest))).toBe(false)
    expect(fetched.some((path) => path.includes(image.layers[1].digest))).toBe(true)
    expect(second.coverage.layers_cached).toBe(2)
    expect(second.findings[0].occurrences[0]).toMatchObject({ file_path: 'app/.env', present_in_final_image: false, source_type: 'file_deleted_layer' })
  })

  it('reads every layer again when the detector catalog changed', async () => {
    const cache = memoryLayerCache()
    await scan(cache)
    proxy.reset()
    await scan(cache, 'another-catalog')
    expect(image.layers.filter((layer) => blobGets().some((path) => path.includes(layer.digest)))).toHaveLength(3)
  })

  it('reads every layer again when archives are opened and were not before', async () => {
    const cache = memoryLayerCache()
    await scan(cache)
    proxy.reset()
    await scanReference({ reference, sources: [registrySource({})], detectors: builtinDetectors, filters: [fixturesFilter()], cleanLayers: cache, detectorCatalogVersion: version, archiveReaders: builtinArchiveReaders })
    expect(image.layers.filter((layer) => blobGets().some((path) => path.includes(layer.digest)))).toHaveLength(3)
  })

  it('scans normally when the cache cannot be read, and says so', async () => {
    const broken: LayerCache = { get: async () => Promise.reject(new Error('database down')), put: async () => {} }
    const result = await scan(broken)
    expect(result.status).toBe('completed')
    expect(result.total_findings).toBe(1)
    expect(result.diagnostics).toContainEqual(expect.objectContaining({ code: 'layer_cache_unavailable' }))
  })
})
