import { createHash, createHmac } from 'node:crypto'
import { sql } from 'kysely'
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { fakeGitHubToken } from '../cli/demo-image.ts'
import type { Filter } from '../core/contracts.ts'
import type { ScanEvent } from '../core/events.ts'
import type { Finding, ScanResult } from '../core/result.ts'
import { type ScanOptions, scanReference } from '../core/scan.ts'
import { builtinDetectors, detectorCatalogVersion } from '../plugins/detectors/catalog.ts'
import { allowlistFilter } from '../plugins/filters/allowlist.ts'
import { fixturesFilter } from '../plugins/filters/fixtures.ts'
import type { LayerleakDatabase } from '../plugins/sinks/database.ts'
import { databaseLayerCache } from '../plugins/sinks/layer-cache.ts'
import { migrateUp } from '../plugins/sinks/migrations.ts'
import { buildImage, type LayerSpec, whiteout } from '../plugins/sources/image-builder.ts'
import { registrySource } from '../plugins/sources/registry.ts'
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.ts'
import { pushImage, uniqueRepository } from './support/push.ts'
import { storageBackends } from './support/storage-backends.ts'

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/** a filter whose verdict depends on where the file stands: it tells which verdict a re-attached match got */
const deletedFiles: Filter = {
  name: 'deleted-files',
  cacheKey: 'deleted-files/1',
  classify: (match) => (match.sourceType === 'file_deleted_layer' ? { disposition: 'suppressed', reason: 'deleted by a later layer' } : undefined),
}

/** what a result says about its secrets, without the times of this run */
const findingsOf = (result: ScanResult) => {
  const strip = ({ first_seen_at: _, last_seen_at: __, ...finding }: Finding) => finding
  return { findings: result.findings.map(strip), suppressed: result.suppressed_findings.map(strip) }
}
const occurrenceAt = (result: ScanResult, path: string) =>
  [...result.findings, ...result.suppressed_findings].flatMap((finding) => finding.occurrences).find((occurrence) => occurrence.file_path === path)

describe.each(storageBackends(inject('postgresUrl')))('layers with matches remembered on $name', (backend) => {
  const token = fakeGitHubToken()
  const fixtureToken = fakeGitHubToken()
  const version = detectorCatalogVersion(builtinDetectors)
  const base: LayerSpec = { files: [{ path: 'usr/share/base.txt', content: 'a base layer with nothing secret in it\n' }] }
  const secrets: LayerSpec = {
    files: [
      { path: 'app/.env', content: `PORT=8080\nGITHUB_TOKEN=${token}\n` },
      { path: 'app/.env.copy', type: 'hardlink', linkname: 'app/.env' },
      { path: 'app/tests/fixture.env', content: `TOKEN=${fixtureToken}\n` },
    ],
  }
  let database: LayerleakDatabase
  let proxy: FaultProxy
  /** base, secrets, a clean layer on top */
  let kept: string
  /** base, secrets, a layer that deletes app/.env (not its hardlink) */
  let deleted: string
  /** secrets, and a new layer holding the same token in another file */
  let again: string
  let secretsDigest: string

  beforeAll(async () => {
    database = await backend.fresh()
    await migrateUp(database.db)
    const repository = uniqueRepository('remembered-matches')
    const keptImage = await buildImage({ layers: [base, secrets, { files: [{ path: 'app/run.sh', content: 'exec app\n' }] }] })
    const deletedImage = await buildImage({ layers: [base, secrets, { files: [whiteout('app/.env')] }] })
    const againImage = await buildImage({ layers: [secrets, { files: [{ path: 'srv/token.txt', content: `token: ${token}\n` }] }] })
    secretsDigest = keptImage.layers[1].digest
    expect(deletedImage.layers[1].digest).toBe(secretsDigest)
    expect(againImage.layers[0].digest).toBe(secretsDigest)
    await pushImage(inject('registryHost'), repository, keptImage, ['kept'])
    await pushImage(inject('registryHost'), repository, deletedImage, ['deleted'])
    await pushImage(inject('registryHost'), repository, againImage, ['again'])
    proxy = await startFaultProxy(inject('registryHost'))
    kept = `${proxy.host}/${repository}:kept`
    deleted = `${proxy.host}/${repository}:deleted`
    again = `${proxy.host}/${repository}:again`
  })
  afterAll(async () => {
    await proxy?.close()
    await database?.close()
  })
  beforeEach(async () => {
    await sql`delete from layer_matches`.execute(database.db)
    await sql`delete from layer_changesets`.execute(database.db)
  })

  const scan = (reference: string, options: Partial<ScanOptions> = {}) =>
    scanReference({
      reference,
      sources: [registrySource({})],
      detectors: builtinDetectors,
      filters: [deletedFiles, fixturesFilter()],
      layerRecords: databaseLayerCache(database),
      detectorCatalogVersion: version,
      ...options,
    })
  /** scans, then counts whether the secrets layer was downloaded */
  const secretsLayerRead = async (reference: string, options: Partial<ScanOptions> = {}) => {
    proxy.reset()
    const result = await scan(reference, options)
    const read = proxy.requests.some((request) => request.method === 'GET' && request.path.endsWith(`/blobs/${secretsDigest}`))
    return { result, read }
  }

  it('does not download a layer with secrets again, and reports its findings as the first run did', async () => {
    const events: ScanEvent[] = []
    const first = await scan(kept, { onEvent: (event) => events.push(event) })
    expect(first.findings.map((finding) => finding.fingerprint)).toContain(sha256(token))
    const firstDone = events.find((event) => event.type === 'layer-done' && event.digest === secretsDigest)
    events.length = 0
    const { result: second, read } = await secretsLayerRead(kept, { onEvent: (event) => events.push(event) })
    expect(read).toBe(false)
    expect(findingsOf(second)).toEqual(findingsOf(first))
    expect(second.coverage).toMatchObject({ layers_cached: 3, layers_scanned: 0 })
    expect(firstDone).toMatchObject({ cached: false, matches: expect.any(Number) })
    expect(events.find((event) => event.type === 'layer-done' && event.digest === secretsDigest)).toMatchObject({ cached: true, matches: (firstDone as { matches: number }).matches })
  })

  it('keeps a suppressed occurrence suppressed, with its reason, when its layer is re-attached', async () => {
    await scan(kept)
    const { result, read } = await secretsLayerRead(kept)
    expect(read).toBe(false)
    expect(occurrenceAt(result, 'app/tests/fixture.env')).toMatchObject({ disposition: 'suppressed', disposition_reason: 'test or example path (tests/)', present_in_final_image: true })
    expect(result.suppressed_findings.map((finding) => finding.fingerprint)).toContain(sha256(fixtureToken))
  })

  it('re-attaches a layer to an image that deletes its file: deleted, not in the final image, judged as deleted', async () => {
    await scan(kept)
    const { result, read } = await secretsLayerRead(deleted)
    expect(read).toBe(false)
    expect(occurrenceAt(result, 'app/.env')).toMatchObject({
      source_type: 'file_deleted_layer',
      present_in_final_image: false,
      disposition: 'suppressed',
      disposition_reason: 'deleted by a later layer',
      layer_digest: secretsDigest,
      line_number: 2,
    })
    // the hardlink to it is another path, which the later layer left alone
    expect(occurrenceAt(result, 'app/.env.copy')).toMatchObject({ source_type: 'file_final', present_in_final_image: true, disposition: 'actionable' })
    // exactly what reading the layer would have said
    expect(findingsOf(result)).toEqual(findingsOf(await scan(deleted, { layerRecords: undefined })))
  })

  it('puts a remembered occurrence and a fresh one of the same secret in one finding, as reading both would', async () => {
    await scan(kept)
    const { result, read } = await secretsLayerRead(again)
    expect(read).toBe(false)
    const finding = result.findings.find((candidate) => candidate.fingerprint === sha256(token))
    expect(finding?.occurrences.map((occurrence) => occurrence.file_path).sort()).toEqual(['app/.env', 'app/.env.copy', 'srv/token.txt'])
    expect(findingsOf(result)).toEqual(findingsOf(await scan(again, { layerRecords: undefined })))
  })

  it('reads the layer again when the filters changed (an allowlist added), and judges it by them', async () => {
    await scan(kept)
    const { result, read } = await secretsLayerRead(kept, { filters: [allowlistFilter({ paths: ['app/.env'] }), deletedFiles, fixturesFilter()] })
    expect(read).toBe(true)
    expect(occurrenceAt(result, 'app/.env')).toMatchObject({ disposition: 'suppressed', disposition_reason: 'allowlisted (path)' })
  })

  it('reads the layer again, and does not remember it, when a filter has no cache key', async () => {
    const uncached: Filter = { name: 'uncached', classify: () => undefined }
    await scan(kept, { filters: [deletedFiles, fixturesFilter(), uncached] })
    expect((await secretsLayerRead(kept, { filters: [deletedFiles, fixturesFilter(), uncached] })).read).toBe(true)
    expect(await database.db.selectFrom('layer_matches').select('layer_digest').execute()).toEqual([])
  })

  it('reads the layer again when raw values are wanted, and gives them', async () => {
    await scan(kept)
    const { result, read } = await secretsLayerRead(kept, { persistRawSecrets: true })
    expect(read).toBe(true)
    expect(result.findings.find((finding) => finding.fingerprint === sha256(token))?.value).toBe(token)
  })

  it('re-attaches under the same fingerprint key, with its fingerprints, and reads the layer again under another', async () => {
    await scan(kept, { fingerprintKey: 'key-one' })
    const same = await secretsLayerRead(kept, { fingerprintKey: 'key-one' })
    expect(same.read).toBe(false)
    expect(same.result.findings.map((finding) => finding.fingerprint)).toContain(createHmac('sha256', 'key-one').update(token).digest('hex'))
    expect((await secretsLayerRead(kept, { fingerprintKey: 'key-two' })).read).toBe(true)
  })

  it('never stores a raw secret, nor the fingerprint key', async () => {
    await scan(kept, { fingerprintKey: 'a-fingerprint-key' })
    await scan(deleted)
    const { rows } = await sql<{ text: string }>`
      select layer_digest || filter_signature || changeset::text || matches::text as text from layer_matches
      union all select layer_digest || changeset::text from layer_changesets`.execute(database.db)
    const stored = rows.map((row) => row.text).join('\n')
    // the rows were read: the secret's fingerprint is there
    expect(stored).toContain(sha256(token))
    expect(stored).toContain(createHmac('sha256', 'a-fingerprint-key').update(token).digest('hex'))
    for (const secret of [token, fixtureToken, token.slice(3), 'a-fingerprint-key']) expect(stored).not.toContain(secret)
  })
})
