import { describe, expect, it } from 'vitest'
import { fakeGitHubToken } from '../cli/demo-image.ts'
import type { LayerDescriptor } from '../core/contracts.ts'
import { scanLayer } from '../core/layer-scanner.ts'
import { defaultLimits } from '../core/limits.ts'
import { MediaTypes } from '../core/media-types.ts'
import { createPrefilter } from '../core/prefilter.ts'
import { TextScanner } from '../core/text-scanner.ts'
import {
  afterCheck,
  detectTagMove,
  findingsInLayer,
  type ImageLayers,
  MAX_ZOMBIE_SCAN_ATTEMPTS,
  needsRecheck,
  stillTaggedAs,
  type TagSighting,
  zombieCandidates,
  zombieScanResult,
} from '../core/zombie-layers.ts'
import { builtinDetectors } from '../plugins/detectors/catalog.ts'
import { fixturesFilter } from '../plugins/filters/fixtures.ts'
import { buildLayer } from '../plugins/sources/image-builder.ts'
import { makeLayer } from '../plugins/sources/layer-reader.ts'

const digest = (name: string) => `sha256:${Buffer.from(name).toString('hex').padEnd(64, '0').slice(0, 64)}`
const at = (minutes: number) => new Date(Date.UTC(2025, 0, 1, 0, minutes))
const seen = (name: string, from: number, to: number): TagSighting => ({ digest: digest(name), firstSeenAt: at(from), lastSeenAt: at(to) })
const layer = (name: string, mediaType: string = MediaTypes.ociLayerGzip): LayerDescriptor => ({ digest: digest(name), mediaType, size: name.length })
const image = (manifest: string, platform: string, ...layers: LayerDescriptor[]): ImageLayers => ({ manifestDigest: digest(manifest), platform, layers })

describe('detecting a tag move', () => {
  it('the first sighting of a tag is no move', () => {
    expect(detectTagMove('latest', digest('a'), [], [], at(10))).toBeUndefined()
  })

  it('a tag still at the digest last recorded did not move', () => {
    expect(detectTagMove('latest', digest('a'), [seen('a', 0, 5)], [], at(10))).toBeUndefined()
  })

  it('a tag at another digest than the last recorded moved, after the old one was last seen and by now', () => {
    const move = detectTagMove('latest', digest('b'), [seen('a', 0, 5)], [], at(10))
    expect(move).toEqual({ tag: 'latest', oldDigest: digest('a'), newDigest: digest('b'), oldLastSeenAt: at(5), movedAt: at(10) })
  })

  it('the last recorded digest is the one seen last, whatever order the rows come in', () => {
    const move = detectTagMove('latest', digest('a'), [seen('b', 6, 8), seen('a', 0, 5)], [], at(10))
    expect(move).toMatchObject({ oldDigest: digest('b'), newDigest: digest('a'), oldLastSeenAt: at(8) })
  })

  it('a move a scan recorded before the watch saw it is still a move, bounded by what the scan saw', () => {
    // the watch saw a until minute 5; a scan saw b at minute 7; the watch now sees b
    const move = detectTagMove('latest', digest('b'), [seen('a', 0, 5), seen('b', 7, 7)], [], at(10))
    expect(move).toEqual({ tag: 'latest', oldDigest: digest('a'), newDigest: digest('b'), oldLastSeenAt: at(5), movedAt: at(7) })
  })

  it('a move already recorded is not recorded again', () => {
    const history = [seen('a', 0, 5), seen('b', 10, 20)]
    expect(detectTagMove('latest', digest('b'), history, [{ oldDigest: digest('a'), newDigest: digest('b'), detectedAt: at(10) }], at(30))).toBeUndefined()
  })

  it('a tag back at a digest it had before moved again (a -> b -> a)', () => {
    const history = [seen('a', 0, 5), seen('b', 10, 20)]
    const recorded = [{ oldDigest: digest('a'), newDigest: digest('b'), detectedAt: at(10) }]
    expect(detectTagMove('latest', digest('a'), history, recorded, at(30))).toMatchObject({ oldDigest: digest('b'), newDigest: digest('a'), movedAt: at(30) })
    // once recorded, and the row of a refreshed, the same sighting is no new move
    const after = [seen('a', 0, 30), seen('b', 10, 20)]
    const both = [...recorded, { oldDigest: digest('b'), newDigest: digest('a'), detectedAt: at(30) }]
    expect(detectTagMove('latest', digest('a'), after, both, at(40))).toBeUndefined()
  })
})

describe('zombie candidates', () => {
  it('are the layers the old image had and the new one has not, in the old order', () => {
    const old = [image('old', '', layer('base'), layer('secret'), layer('app-1'))]
    const fresh = [image('new', '', layer('base'), layer('app-2'))]
    const { candidates, skipped } = zombieCandidates(old, fresh)
    expect(candidates.map((candidate) => [candidate.digest, candidate.layerIndex, candidate.sourceManifestDigest])).toEqual([
      [digest('secret'), 1, digest('old')],
      [digest('app-1'), 2, digest('old')],
    ])
    expect(skipped).toEqual([])
  })

  it('for indexes, compare the union of every platform: a layer that moved to another platform is still referenced', () => {
    const old = [image('old-amd64', 'linux/amd64', layer('base'), layer('amd64-only')), image('old-arm64', 'linux/arm64', layer('base'), layer('shared-tool'), layer('arm64-secret'))]
    const fresh = [image('new-amd64', 'linux/amd64', layer('base'), layer('shared-tool')), image('new-arm64', 'linux/arm64', layer('base'))]
    const { candidates } = zombieCandidates(old, fresh)
    expect(candidates.map((candidate) => [candidate.digest, candidate.platform, candidate.layerIndex])).toEqual([
      [digest('amd64-only'), 'linux/amd64', 1],
      [digest('arm64-secret'), 'linux/arm64', 2],
    ])
  })

  it('a layer shared by two old platforms is one candidate, from the first platform listing it', () => {
    const old = [image('old-amd64', 'linux/amd64', layer('gone-layer')), image('old-arm64', 'linux/arm64', layer('gone-layer'))]
    const { candidates } = zombieCandidates(old, [image('new', 'linux/amd64', layer('other'))])
    expect(candidates).toHaveLength(1)
    expect(candidates[0]).toMatchObject({ sourceManifestDigest: digest('old-amd64'), platform: 'linux/amd64' })
  })

  it('foreign and non-tar layers are left out, with the reason', () => {
    const old = [image('old', '', layer('foreign', MediaTypes.dockerLayerForeign), layer('blob', 'application/vnd.example.data'), layer('tar', MediaTypes.ociLayer))]
    const { candidates, skipped } = zombieCandidates(old, [image('new', '')])
    expect(candidates.map((candidate) => candidate.digest)).toEqual([digest('tar')])
    expect(skipped.map((entry) => [entry.digest, entry.reason])).toEqual([
      [digest('foreign'), 'foreign layer'],
      [digest('blob'), 'not a tar layer'],
    ])
  })

  it('nothing is orphaned while another tag still names the old image', () => {
    const current = new Map([
      ['latest', digest('new')],
      ['v1', digest('old')],
    ])
    expect(stillTaggedAs(digest('old'), current, 'latest')).toBe('v1')
    expect(stillTaggedAs(digest('older'), current, 'latest')).toBeUndefined()
  })
})

describe('what a pass does with a zombie it knows', () => {
  const fresh = { status: 'retrievable' as const, scanAttempts: 0, scannedAt: null }

  it('a retrievable zombie not read yet is read', () => {
    expect(afterCheck(fresh, true)).toEqual({ status: 'retrievable', scan: true })
  })

  it('a zombie the registry no longer serves is gone, whatever it was', () => {
    for (const status of ['retrievable', 'scanned', 'failed'] as const) expect(afterCheck({ ...fresh, status }, false)).toEqual({ status: 'gone', scan: false })
  })

  it('a zombie already read is not read again, nor one read under another move', () => {
    expect(afterCheck({ status: 'scanned', scanAttempts: 1, scannedAt: at(1) }, true)).toEqual({ status: 'scanned', scan: false })
    expect(afterCheck(fresh, true, true)).toEqual({ status: 'scanned', scan: false })
  })

  it('a zombie that failed is read again, until it failed too often', () => {
    expect(afterCheck({ status: 'failed', scanAttempts: 1, scannedAt: null }, true)).toEqual({ status: 'retrievable', scan: true })
    expect(afterCheck({ status: 'failed', scanAttempts: MAX_ZOMBIE_SCAN_ATTEMPTS, scannedAt: null }, true)).toEqual({ status: 'failed', scan: false })
  })

  it('gone is final: only the others are checked again', () => {
    expect(['retrievable', 'scanned', 'failed', 'gone'].filter((status) => needsRecheck({ status: status as 'gone' }))).toEqual(['retrievable', 'scanned', 'failed'])
  })
})

describe('the scan result of a move’s zombie layers', () => {
  it('reports every occurrence as zombie_layer, absent from any final image, with the move, under the old image', async () => {
    const token = fakeGitHubToken()
    const built = await buildLayer({ files: [{ path: 'root/.git-credentials', content: `https://ci:${token}@github.com\n` }, { path: 'app/test/fixtures/token.txt', content: `${fakeGitHubToken()}\n` }] })
    const zombie = makeLayer({ digest: built.digest, mediaType: built.mediaType, size: built.size }, 1, async () => new Blob([built.bytes as Uint8Array<ArrayBuffer>]).stream())
    const outcome = await scanLayer(zombie, { scanner: new TextScanner(builtinDetectors, createPrefilter(builtinDetectors)), limits: defaultLimits })
    const move = { tag: 'latest', oldDigest: digest('old-index'), newDigest: digest('new-index'), movedAt: at(10), oldMediaType: MediaTypes.ociIndex }
    const result = zombieScanResult({
      repository: 'registry.example/team/app',
      registry: 'registry.example',
      move,
      scanned: [
        {
          layer: { digest: built.digest, mediaType: built.mediaType, size: built.size, sourceManifestDigest: digest('old-amd64'), platform: 'linux/amd64', layerIndex: 1, buildStep: 'RUN echo … > /root/.git-credentials' },
          outcome,
        },
      ],
      filters: [fixturesFilter()],
      assemble: { persistRawSecrets: false },
      scanner: { name: 'layerleak', version: 'test', detector_catalog_version: 'test' },
      startedAt: at(11),
      finishedAt: at(12),
    })

    const old = `registry.example/team/app@${move.oldDigest}`
    expect(result).toMatchObject({ mode: 'reference', status: 'completed', requested_reference: old, resolved_reference: old, tag_results: [] })
    expect(result.diagnostics[0]).toMatchObject({ code: 'zombie_layers', subject: 'latest', message: expect.stringContaining(`registry.example/team/app:latest left behind when it moved to ${move.newDigest}`) })
    expect(result.targets).toEqual([expect.objectContaining({ digest: move.oldDigest, tags: [], platform_results: [expect.objectContaining({ manifest_digest: digest('old-amd64'), platform: 'linux/amd64', layers_scanned: 1 })] })])
    expect(result.findings).toHaveLength(1)
    const [finding] = result.findings
    expect(finding.manifest_digest).toBe(digest('old-amd64'))
    expect(finding.redacted_value).not.toContain(token)
    expect(finding.occurrences).toEqual([
      expect.objectContaining({
        source_type: 'zombie_layer',
        present_in_final_image: false,
        file_path: 'root/.git-credentials',
        layer_digest: built.digest,
        layer_index: 1,
        build_step: 'RUN echo … > /root/.git-credentials',
        zombie: { tag: 'latest', old_manifest_digest: move.oldDigest, new_manifest_digest: move.newDigest, moved_at: at(10).toISOString() },
      }),
    ])
    // the filters judge zombie findings as any other: a fixture path stays suppressed
    expect(result.suppressed_findings.map((suppressed) => suppressed.occurrences[0].file_path)).toEqual(['app/test/fixtures/token.txt'])
    expect(findingsInLayer(result, built.digest)).toEqual({ actionable: 1, suppressed: 1 })
    expect(JSON.stringify(result)).not.toContain(token)
  })

  it('a zombie layer that could not be read makes the result failed, with the reason', async () => {
    const broken = makeLayer(layer('broken'), 0, async () => new Blob([new Uint8Array([1, 2, 3])]).stream())
    const outcome = await scanLayer(broken, { scanner: new TextScanner(builtinDetectors, createPrefilter(builtinDetectors)), limits: defaultLimits })
    const result = zombieScanResult({
      repository: 'registry.example/team/app',
      registry: 'registry.example',
      move: { tag: 'latest', oldDigest: digest('old'), newDigest: digest('new'), movedAt: at(10), oldMediaType: '' },
      scanned: [{ layer: { ...layer('broken'), sourceManifestDigest: digest('old'), platform: '', layerIndex: 0, buildStep: '' }, outcome }],
      filters: [],
      assemble: { persistRawSecrets: false },
      scanner: { name: 'layerleak', version: 'test', detector_catalog_version: 'test' },
      startedAt: at(11),
      finishedAt: at(12),
    })
    expect(result.status).toBe('failed')
    expect(result.coverage).toMatchObject({ layers_total: 1, layers_failed: 1, layers_scanned: 0 })
    expect(result.diagnostics.map((diagnostic) => [diagnostic.code, diagnostic.subject])).toContainEqual([expect.stringMatching(/layer_failed|digest_mismatch/), digest('broken')])
  })
})
