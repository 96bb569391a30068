import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { fakeGitHubToken } from '../cli/demo-image.ts'
import type { Filter, LayerCache, LayerRecord } from '../core/contracts.ts'
import { scanReference } from '../core/scan.ts'
import { builtinDetectors, detectorCatalogVersion } from '../plugins/detectors/catalog.ts'
import { fixturesFilter } from '../plugins/filters/fixtures.ts'
import { type BuiltImage, buildImage, whiteout } from '../plugins/sources/image-builder.ts'
import { builtinArchiveReaders } from '../plugins/sources/nested-archives.ts'
import { registrySource } from '../plugins/sources/registry.ts'
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.ts'
import { pushImage, uniqueRepository } from './support/push.ts'

/** The contract in memory: the pipeline's side of the cache, whatever stores it. */
const memoryLayerCache = (): LayerCache & { records: Map<string, LayerRecord> } => {
  const records = new Map<string, LayerRecord>()
  // clean layers under the catalog alone, layers with matches under the filter signature too
  const keyOf = (version: string, digest: string, signature = '') => `${version}/${signature}/${digest}`
  return {
    records,
    async get(digests, version, signature) {
      const found = new Map<string, LayerRecord>()
      for (const digest of digests) {
        const record = records.get(keyOf(version, digest)) ?? (signature ? records.get(keyOf(version, digest, signature)) : undefined)
        if (record) found.set(digest, record)
      }
      return found
    },
    async put(list, version, signature) {
      for (const record of list) records.set(keyOf(version, record.digest, record.matches?.length ? signature : ''), record)
    },
  }
}

/** the fixtures filter without its cache key: layers with matches are then never remembered, only clean ones */
const fixturesWithoutCacheKey = (): Filter => {
  const { name, classify } = fixturesFilter()
  return { name, classify }
}

describe('the layer cache across runs', () => {
  let proxy: FaultProxy
  let image: BuiltImage
  let reference: string
  const token = fakeGitHubToken()
  const version = detectorCatalogVersion(builtinDetectors)

  beforeAll(async () => {
    image = await buildImage({
      layers: [
        { files: [{ path: 'usr/share/base.txt', content: 'a base layer with nothing secret in it\n' }] },
        { files: [{ path: 'app/.env', content: `TOKEN=${token}\n` }] },
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
    scanReference({ reference, sources: [registrySource({})], detectors: builtinDetectors, filters: [fixturesWithoutCacheKey()], layerRecords: cache, detectorCatalogVersion: catalogVersion })
  const blobGets = () => proxy.requests.filter((request) => request.method === 'GET' && /\/blobs\/sha256:/.test(request.path)).map((request) => request.path)

  it('remembers the layers without matches, and only those, when a filter has no cache key', async () => {
    const cache = memoryLayerCache()
    await scan(cache)
    expect([...cache.records.values()].map((record) => record.digest).sort()).toEqual([image.layers[0].digest, image.layers[2].digest].sort())
  })

  it('remembers the layer with a match too when every filter has a cache key, its match without the value', async () => {
    const cache = memoryLayerCache()
    await scanReference({ reference, sources: [registrySource({})], detectors: builtinDetectors, filters: [fixturesFilter()], layerRecords: cache, detectorCatalogVersion: version })
    const records = [...cache.records.values()]
    expect(records.map((record) => record.digest).sort()).toEqual(image.layers.map((layer) => layer.digest).sort())
    const [withMatch] = records.filter((record) => record.matches?.length)
    expect(withMatch.digest).toBe(image.layers[1].digest)
    expect(withMatch.matches).toEqual([expect.objectContaining({ path: 'app/.env', entryPath: 'app/.env', lineNumber: 1, redactedValue: 'ghp********', contextSnippet: 'TOKEN=ghp********' })])
    expect(JSON.stringify(withMatch)).not.toContain(token)
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
    await scanReference({ reference, sources: [registrySource({})], detectors: builtinDetectors, filters: [fixturesWithoutCacheKey()], layerRecords: cache, detectorCatalogVersion: version, archiveReaders: builtinArchiveReaders })
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
