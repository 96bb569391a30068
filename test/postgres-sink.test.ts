import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { isLayerleakError } from '../core/errors.ts'
import type { ScanResult } from '../core/result.ts'
import type { LayerleakDatabase } from '../plugins/sinks/database.ts'
import {
  getFinding,
  getRepository,
  getScanRun,
  layersScannedWith,
  listRepositories,
  listRepositoryFindings,
  listRepositoryScans,
  parsePage,
} from '../plugins/sinks/finding-queries.ts'
import { migrateUp } from '../plugins/sinks/migrations.ts'
import { type PostgresSink, postgresSink } from '../plugins/sinks/postgres.ts'
import { buildScanResult, digestOf, rescanned } from './support/scan-results.ts'
import { storageBackends } from './support/storage-backends.ts'

const backends = storageBackends(inject('postgresUrl'))

let unique = 0
/** a repository name no other test of the file uses: tests share one database per backend */
const repositoryName = (what: string) => `acme/${what}-${++unique}`

const rawSecrets = (value: unknown): string[] => {
  const found: string[] = []
  JSON.stringify(value, (key, field) => {
    if ((key === 'value' || key === 'raw_context_snippet' || key === 'raw_value') && field != null) found.push(key)
    return field
  })
  return found
}

describe.each(backends)('the postgres sink on $name', (backend) => {
  let database: LayerleakDatabase & { url?: string }
  const sinks: PostgresSink[] = []
  /** a sink as the CLI makes one: its own connection to a server database; the shared in-process one for PGlite */
  const newSink = () => {
    const sink = postgresSink(database.url ? { url: database.url } : { database })
    sinks.push(sink)
    return sink
  }
  let sink: PostgresSink

  beforeAll(async () => {
    database = await backend.fresh()
    await migrateUp(database.db)
    sink = newSink()
  })
  afterAll(async () => {
    await Promise.all(sinks.map((each) => each.close()))
    await database?.close()
  })

  const rowCounts = async (manifestDigests: string[]) => {
    const findings = await database.db.selectFrom('findings').select(['id']).where('manifest_digest', 'in', manifestDigests).execute()
    const occurrences = findings.length
      ? await database.db.selectFrom('finding_occurrences').select('id').where('finding_id', 'in', findings.map((row) => row.id)).execute()
      : []
    return { findings: findings.length, occurrences: occurrences.length }
  }
  const manifestsOf = (result: ScanResult) => result.targets.flatMap((target) => target.platform_results.map((platform) => platform.manifest_digest))

  it('stores a result: repository, manifests, tag, every finding with its occurrences, and a scan run', async () => {
    const name = repositoryName('stored')
    const result = buildScanResult({ name, platforms: ['linux/amd64', 'linux/arm64'], actionable: 3, suppressed: 2, occurrencesPerFinding: 2 })
    const receipt = await sink.write(result)
    expect(receipt.scanRunId).toBeGreaterThan(0)
    expect(receipt.location).toContain(`scan_run ${receipt.scanRunId}`)

    const repository = await getRepository(database.db, { registry: 'registry.test', name })
    expect(repository).toMatchObject({ registry: 'registry.test', name, scan_count: 1, actionable_findings: 6, suppressed_findings: 4 })
    const manifests = await database.db.selectFrom('manifests').selectAll().where('digest', 'in', [result.targets[0].digest, ...manifestsOf(result)]).orderBy('platform').execute()
    expect(manifests.map((row) => [row.platform, row.media_type])).toEqual([
      ['linux/amd64', null],
      ['linux/arm64', null],
      [null, 'application/vnd.oci.image.index.v1+json'],
    ])
    expect(manifests[0].config_digest).toBe(result.targets[0].platform_results[0].config_digest)
    const tags = await database.db.selectFrom('tags').select(['tag', 'digest']).where('repository_id', '=', repository!.id).execute()
    expect(tags).toEqual([{ tag: 'latest', digest: result.targets[0].digest }])
    expect(await rowCounts(manifestsOf(result))).toEqual({ findings: 10, occurrences: 20 })

    const run = await getScanRun(database.db, receipt.scanRunId)
    expect(run).toMatchObject({ id: receipt.scanRunId, status: 'completed', storage_status: 'complete', total_findings: 6, suppressed_findings_count: 4, manifest_count: 2 })
    expect(run!.result.findings.map((finding) => finding.fingerprint)).toEqual(result.findings.map((finding) => finding.fingerprint))
  })

  it('a later scan of the same image moves last_seen_at, keeps first_seen_at and duplicates nothing', async () => {
    const name = repositoryName('rescanned')
    const first = buildScanResult({ name, actionable: 4, suppressed: 1, scannedAt: '2026-02-01T10:00:00.000Z' })
    await sink.write(first)
    const second = rescanned(first, '2026-02-08T10:00:00.000Z')
    await sink.write(second)
    await sink.write(second)

    expect(await rowCounts(manifestsOf(first))).toEqual({ findings: 5, occurrences: 10 })
    const page = await listRepositoryFindings(database.db, { registry: 'registry.test', name }, { disposition: 'all' })
    expect(page!.items).toHaveLength(5)
    for (const finding of page!.items) {
      expect(finding.first_seen_at).toBe('2026-02-01T10:00:00.000Z')
      expect(finding.last_seen_at).toBe('2026-02-08T10:00:00.000Z')
      expect(finding.occurrence_count).toBe(2)
    }
    const detail = await getFinding(database.db, page!.items[0].id)
    expect(detail!.occurrences.map((occurrence) => [occurrence.first_seen_at, occurrence.last_seen_at])).toEqual([
      ['2026-02-01T10:00:00.000Z', '2026-02-08T10:00:00.000Z'],
      ['2026-02-01T10:00:00.000Z', '2026-02-08T10:00:00.000Z'],
    ])
    // an older result stored late does not roll last_seen_at back
    await sink.write(first)
    const again = await getFinding(database.db, page!.items[0].id)
    expect(again!.last_seen_at).toBe('2026-02-08T10:00:00.000Z')
    expect((await listRepositoryScans(database.db, { registry: 'registry.test', name }))!.total).toBe(4)
  })

  it('a re-scan that finds more occurrences of a finding recounts it from what is stored', async () => {
    const name = repositoryName('recounted')
    const first = buildScanResult({ name, actionable: 1, suppressed: 0, occurrencesPerFinding: 1 })
    await sink.write(first)
    const more = rescanned(buildScanResult({ name, actionable: 1, suppressed: 0, occurrencesPerFinding: 3 }), '2026-03-01T00:00:00.000Z')
    await sink.write(more)
    const [finding] = (await listRepositoryFindings(database.db, { registry: 'registry.test', name }))!.items
    expect(finding).toMatchObject({ occurrence_count: 3, actionable_occurrence_count: 3, suppressed_occurrence_count: 0 })
    expect((await getFinding(database.db, finding.id))!.occurrences).toHaveLength(3)
  })

  it('stores paths, keys and snippets that need quoting exactly as the result gave them', async () => {
    const name = repositoryName('quoting')
    const result = buildScanResult({ name, actionable: 1, suppressed: 0, occurrencesPerFinding: 2 })
    const awkward = ['srv/app/config "prod", {eu}.env', 'C:\\build\\secrets\\NULL.txt']
    result.findings[0].occurrences.forEach((occurrence, i) => {
      occurrence.file_path = awkward[i]
      occurrence.key = `KEY "${i}" \\ {x}`
      occurrence.build_step = `RUN echo "a,b" > ${awkward[i]}`
      occurrence.context_snippet = `données ${'日本語'} "${i}" \\n`
    })
    await sink.write(result)
    const [listed] = (await listRepositoryFindings(database.db, { registry: 'registry.test', name }))!.items
    const stored = (await getFinding(database.db, listed.id))!.occurrences
    const sent = result.findings[0].occurrences
    expect(stored.map((occurrence) => [occurrence.file_path, occurrence.key, occurrence.build_step, occurrence.context_snippet]).sort()).toEqual(
      sent.map((occurrence) => [occurrence.file_path, occurrence.key, occurrence.build_step, occurrence.context_snippet]).sort(),
    )
  })

  it('a moved tag keeps one row per digest it pointed at', async () => {
    const name = repositoryName('moved-tag')
    await sink.write(buildScanResult({ name, image: 'build-1', scannedAt: '2026-01-01T00:00:00.000Z' }))
    await sink.write(buildScanResult({ name, image: 'build-2', scannedAt: '2026-01-02T00:00:00.000Z' }))
    await sink.write(buildScanResult({ name, image: 'build-2', scannedAt: '2026-01-03T00:00:00.000Z' }))
    const repository = await getRepository(database.db, { registry: 'registry.test', name })
    const tags = await database.db.selectFrom('tags').select(['tag', 'digest', 'first_seen_at', 'last_seen_at']).where('repository_id', '=', repository!.id).orderBy('first_seen_at').execute()
    expect(tags.map((row) => [row.tag, row.digest, row.first_seen_at.toISOString(), row.last_seen_at.toISOString()])).toEqual([
      ['latest', digestOf('build-1/index'), '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'],
      ['latest', digestOf('build-2/index'), '2026-01-02T00:00:00.000Z', '2026-01-03T00:00:00.000Z'],
    ])
  })

  it('raw values are stored only when the result carries them', async () => {
    const withRaw = buildScanResult({ name: repositoryName('raw'), raw: true, actionable: 2, suppressed: 0 })
    const withoutRaw = buildScanResult({ name: repositoryName('redacted'), raw: false, actionable: 2, suppressed: 0 })
    await sink.write(withRaw)
    await sink.write(withoutRaw)
    const rawOf = (result: ScanResult) =>
      database.db
        .selectFrom('findings as f')
        .innerJoin('finding_occurrences as o', 'o.finding_id', 'f.id')
        .select(['f.fingerprint', 'f.raw_value as finding_raw', 'o.raw_value as occurrence_raw', 'o.raw_context_snippet'])
        .where('f.manifest_digest', 'in', manifestsOf(result))
        .execute()
    const stored = await rawOf(withRaw)
    expect(stored).toHaveLength(4)
    for (const row of stored) {
      const value = withRaw.findings.find((finding) => finding.fingerprint === row.fingerprint)!.value
      expect(row.finding_raw).toBe(value)
      expect(row.occurrence_raw).toBe(value)
      expect(row.raw_context_snippet).toContain(value)
    }
    const redacted = await rawOf(withoutRaw)
    expect(redacted).toHaveLength(4)
    expect(redacted.every((row) => row.finding_raw === null && row.occurrence_raw === null && row.raw_context_snippet === null)).toBe(true)
  })

  it('scan_runs keeps a redacted snapshot even when the result carries raw values, and the reads never return them', async () => {
    const name = repositoryName('snapshot')
    const result = buildScanResult({ name, raw: true, actionable: 2, suppressed: 1 })
    expect(rawSecrets(result).length).toBeGreaterThan(0)
    const { scanRunId } = await sink.write(result)
    const stored = await database.db.selectFrom('scan_runs').select('result_json').where('id', '=', scanRunId).executeTakeFirstOrThrow()
    expect(rawSecrets(stored.result_json)).toEqual([])
    expect((stored.result_json as ScanResult).findings[0].redacted_value).toBe(result.findings[0].redacted_value)
    const secrets = [...result.findings, ...result.suppressed_findings].map((finding) => finding.value!)
    const served = JSON.stringify([
      await getScanRun(database.db, scanRunId),
      await listRepositoryFindings(database.db, { registry: 'registry.test', name }, { disposition: 'all' }),
      ...(await Promise.all(
        (await listRepositoryFindings(database.db, { registry: 'registry.test', name }, { disposition: 'all' }))!.items.map((finding) => getFinding(database.db, finding.id)),
      )),
    ])
    for (const secret of secrets) expect(served).not.toContain(secret)
    expect(rawSecrets(JSON.parse(served))).toEqual([])
  })

  it('two writers storing the same result at once end with one copy of everything', async () => {
    const name = repositoryName('concurrent')
    const result = buildScanResult({ name, platforms: ['linux/amd64', 'linux/arm64'], actionable: 40, suppressed: 10, occurrencesPerFinding: 3 })
    const other = newSink()
    const receipts = await Promise.all([sink.write(result), other.write(structuredClone(result)), sink.write(structuredClone(result))])
    expect(new Set(receipts.map((receipt) => receipt.scanRunId)).size).toBe(3)
    expect(await rowCounts(manifestsOf(result))).toEqual({ findings: 100, occurrences: 300 })
    const repository = await getRepository(database.db, { registry: 'registry.test', name })
    expect(repository).toMatchObject({ scan_count: 3, actionable_findings: 80, suppressed_findings: 20 })
    const counts = await database.db.selectFrom('findings').select(['occurrence_count']).where('manifest_digest', 'in', manifestsOf(result)).execute()
    expect(counts.every((row) => row.occurrence_count === 3)).toBe(true)
    const runs = await database.db.selectFrom('scan_runs').select('storage_status').where('id', 'in', receipts.map((receipt) => receipt.scanRunId)).execute()
    expect(runs.map((run) => run.storage_status)).toEqual(['complete', 'complete', 'complete'])
  })

  it("lists a repository's findings page by page, filtered by disposition", async () => {
    const name = repositoryName('paged')
    await sink.write(buildScanResult({ name, actionable: 7, suppressed: 3 }))
    const ref = { registry: 'registry.test', name }
    const actionable = await listRepositoryFindings(database.db, ref)
    expect(actionable).toMatchObject({ total: 7, limit: 50, offset: 0 })
    expect(actionable!.items.every((finding) => finding.disposition === 'actionable')).toBe(true)
    const suppressed = await listRepositoryFindings(database.db, ref, { disposition: 'suppressed' })
    expect(suppressed!.total).toBe(3)
    expect(suppressed!.items.every((finding) => finding.disposition === 'suppressed' && finding.disposition_reason !== '')).toBe(true)
    const all = await listRepositoryFindings(database.db, ref, { disposition: 'all' })
    expect(all!.total).toBe(10)

    const pages = await Promise.all([0, 4, 8].map((offset) => listRepositoryFindings(database.db, ref, { disposition: 'all', limit: '4', offset: String(offset) })))
    expect(pages.map((page) => page!.items.length)).toEqual([4, 4, 2])
    const ids = pages.flatMap((page) => page!.items.map((finding) => finding.id))
    expect(new Set(ids).size).toBe(10)
    expect(ids.sort()).toEqual(all!.items.map((finding) => finding.id).sort())
    expect(pages[0]!.items[0]).toMatchObject({ platform: 'linux/amd64', manifest_digest: expect.stringMatching(/^sha256:/), redacted_value: expect.stringContaining('*') })

    await expect(listRepositoryFindings(database.db, ref, { disposition: 'everything' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    expect(await listRepositoryFindings(database.db, { registry: 'registry.test', name: 'acme/never-scanned' })).toBeUndefined()
  })

  it('a finding comes with every occurrence and the repositories it was seen in', async () => {
    const shared = 'shared-base-image'
    const first = repositoryName('mirror-a')
    const second = repositoryName('mirror-b')
    await sink.write(buildScanResult({ name: first, image: shared, actionable: 1, suppressed: 0, occurrencesPerFinding: 3 }))
    await sink.write(buildScanResult({ name: second, image: shared, actionable: 1, suppressed: 0, occurrencesPerFinding: 3 }))
    const [listed] = (await listRepositoryFindings(database.db, { registry: 'registry.test', name: second }))!.items
    expect((await listRepositoryFindings(database.db, { registry: 'registry.test', name: first }))!.items.map((finding) => finding.id)).toEqual([listed.id])
    const detail = await getFinding(database.db, String(listed.id))
    expect(detail!.repositories).toEqual([
      { registry: 'registry.test', name: first },
      { registry: 'registry.test', name: second },
    ])
    expect(detail!.occurrences).toHaveLength(3)
    const expected = buildScanResult({ name: first, image: shared, actionable: 1, suppressed: 0, occurrencesPerFinding: 3 }).findings[0].occurrences
    expect(detail!.occurrences.map(({ id: _id, first_seen_at: _first, last_seen_at: _last, ...occurrence }) => occurrence)).toEqual(
      [...expected].sort((a, b) => a.layer_index - b.layer_index || a.file_path.localeCompare(b.file_path)),
    )
    expect(await getFinding(database.db, 987_654_321)).toBeUndefined()
    await expect(getFinding(database.db, 'one')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
  })

  it("lists repositories, and a repository's scans newest first", async () => {
    const name = repositoryName('history')
    const first = buildScanResult({ name, scannedAt: '2026-04-01T00:00:00.000Z' })
    const a = await sink.write(first)
    const b = await sink.write(rescanned(first, '2026-04-02T00:00:00.000Z'))
    const scans = await listRepositoryScans(database.db, { registry: 'registry.test', name }, { limit: 1 })
    expect(scans).toMatchObject({ total: 2, limit: 1, offset: 0 })
    expect(scans!.items.map((scan) => scan.id)).toEqual([b.scanRunId])
    expect(scans!.items[0]).toMatchObject({ requested_reference: `registry.test/${name}:latest`, mode: 'reference', status: 'completed', started_at: '2026-04-02T00:00:00.000Z' })
    const older = await listRepositoryScans(database.db, { registry: 'registry.test', name }, { limit: 1, offset: 1 })
    expect(older!.items.map((scan) => scan.id)).toEqual([a.scanRunId])

    const everything = await listRepositories(database.db, { limit: 200 })
    const listed = everything.items.find((repository) => repository.name === name)
    expect(listed).toMatchObject({ registry: 'registry.test', scan_count: 2, last_scanned_at: '2026-04-02T00:00:00.000Z' })
    expect(everything.total).toBeGreaterThanOrEqual(everything.items.length)
    const names = everything.items.map((repository) => `${repository.registry}/${repository.name}`)
    expect(names).toEqual([...names].sort())
  })

  it('docker.io repositories are found by their short name too', async () => {
    const result = buildScanResult({ registry: 'docker.io', name: `library/busybox-${++unique}` })
    await sink.write(result)
    const short = result.repository.replace('docker.io/library/', '')
    expect(await getRepository(database.db, { name: short })).toMatchObject({ registry: 'docker.io', name: `library/${short}` })
  })

  it('a write that fails half-way keeps the targets stored so far and leaves a partial scan run', async () => {
    const name = repositoryName('half-way')
    const good = buildScanResult({ name, tag: 'v1', image: 'half-way-v1' })
    const bad = buildScanResult({ name, tag: 'v2', image: 'half-way-v2' })
    // a value the schema refuses, in the second target only
    ;(bad.findings[0] as { confidence: string }).confidence = 'certain'
    const sweep: ScanResult = {
      ...good,
      mode: 'repository',
      requested_reference: `registry.test/${name}`,
      targets: [...good.targets, ...bad.targets],
      findings: [...good.findings, ...bad.findings],
      suppressed_findings: [...good.suppressed_findings, ...bad.suppressed_findings],
      target_count: 2,
    }
    const failure = await sink.write(sweep).catch((error: unknown) => error)
    expect(isLayerleakError(failure, 'DATABASE_ERROR')).toBe(true)
    expect((failure as Error).message).toContain('1 of 2 targets stored')
    const runId = (failure as { details: { scanRunId: number } }).details.scanRunId
    expect(await getScanRun(database.db, runId)).toMatchObject({ status: 'partial', storage_status: 'partial', storage_error: expect.stringContaining('confidence') })
    expect(await rowCounts(manifestsOf(good))).toEqual({ findings: 3, occurrences: 6 })
    expect(await rowCounts(manifestsOf(bad))).toEqual({ findings: 0, occurrences: 0 })
    const tags = await database.db.selectFrom('tags').innerJoin('repositories', 'repositories.id', 'tags.repository_id').select('tag').where('repositories.name', '=', name).execute()
    expect(tags).toEqual([{ tag: 'v1' }])
  })

  it('a scan that failed before reaching any image is still recorded', async () => {
    const result: ScanResult = {
      ...buildScanResult({ name: repositoryName('unreachable'), actionable: 0, suppressed: 0 }),
      status: 'failed',
      targets: [],
      target_count: 0,
      manifest_count: 0,
      diagnostics: [{ code: 'resolve_failed', scope: 'scan', subject: 'registry.test/acme/unreachable', message: 'manifest unknown' }],
    }
    const { scanRunId } = await sink.write(result)
    expect(await getScanRun(database.db, scanRunId)).toMatchObject({ status: 'failed', storage_status: 'complete', result: { diagnostics: result.diagnostics } })
  })

  it('layers read to the end are recorded as scanned with the detector catalog; layers cut short are not', async () => {
    const result = buildScanResult({ name: repositoryName('layers'), detectorCatalogVersion: 'catalog-7' })
    const [whole, failed, limited] = ['whole', 'failed', 'limited'].map((what) => digestOf(`layer-${what}-${unique}`))
    const layerSink = newSink()
    layerSink.onEvent({ type: 'layer-start', digest: whole, index: 0, size: 31_337 })
    layerSink.onEvent({ type: 'layer-start', digest: failed, index: 1, size: 10 })
    layerSink.onEvent({ type: 'layer-start', digest: limited, index: 2, size: 99 })
    layerSink.onEvent({ type: 'layer-done', digest: whole, files: 10, bytes: 31_337, matches: 0, cached: false })
    layerSink.onEvent({ type: 'layer-done', digest: failed, files: 0, bytes: 0, matches: 0, cached: false, error: 'connection reset' })
    layerSink.onEvent({ type: 'layer-done', digest: limited, files: 5, bytes: 99, matches: 0, cached: false })
    result.diagnostics.push({ code: 'limit_exceeded', scope: 'layer', subject: limited, message: 'max_layer_entries reached' })
    await layerSink.write(result)
    expect(await layersScannedWith(database.db, [whole, failed, limited], 'catalog-7')).toEqual(new Set([whole]))
    expect(await layersScannedWith(database.db, [whole], 'catalog-8')).toEqual(new Set())
    const row = await database.db.selectFrom('layers').select(['size', 'scanned_at']).where('digest', '=', whole).executeTakeFirstOrThrow()
    expect(row.size).toBe(31_337)
    expect(row.scanned_at?.toISOString()).toBe(result.finished_at)
    // layers holding a finding are known, if not (yet) marked scanned
    const withFinding = result.findings[0].occurrences[0].layer_digest
    expect(await database.db.selectFrom('layers').select('digest').where('digest', '=', withFinding).execute()).toHaveLength(1)
  })

  it('stores a result large enough to need several statements per table', async () => {
    const name = repositoryName('large')
    const result = buildScanResult({ name, actionable: 2500, suppressed: 500, occurrencesPerFinding: 2 })
    await sink.write(result)
    expect(await rowCounts(manifestsOf(result))).toEqual({ findings: 3000, occurrences: 6000 })
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from findings where manifest_digest = ${manifestsOf(result)[0]} and occurrence_count = 2`.execute(database.db)
    expect(rows[0].n).toBe(3000)
  })
})

describe('pagination', () => {
  it('defaults to 50 from 0, clamps the limit to 200 and refuses what is not a whole number', () => {
    expect(parsePage()).toEqual({ limit: 50, offset: 0 })
    expect(parsePage({ limit: '1000', offset: '20' })).toEqual({ limit: 200, offset: 20 })
    for (const bad of [{ limit: '0' }, { limit: '-1' }, { limit: 'ten' }, { offset: '1.5' }]) {
      expect(() => parsePage(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
    }
  })
})

describe('opening the sink', () => {
  it('against a server database that was never migrated fails before any scan, with SCHEMA_OUT_OF_DATE', async () => {
    const server = backends.find((backend) => backend.name === 'postgresql')!
    const database = await server.fresh()
    const sink = postgresSink({ url: database.url })
    try {
      await expect(sink.open()).rejects.toMatchObject({ code: 'SCHEMA_OUT_OF_DATE' })
    } finally {
      await sink.close()
      await database.close()
    }
  })
})
