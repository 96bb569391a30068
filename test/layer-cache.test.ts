import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { connectDatabase, type LayerleakDatabase } from '../plugins/sinks/database.ts'
import { databaseLayerCache } from '../plugins/sinks/layer-cache.ts'
import { migrateUp } from '../plugins/sinks/migrations.ts'
import { bigRecord, matchedRecord, smallRecord } from './support/layer-records.ts'
import { digestOf } from './support/scan-results.ts'
import { storageBackends } from './support/storage-backends.ts'

const backends = storageBackends(inject('postgresUrl'))

let unique = 0
/** a layer digest no other test of the file uses: tests share one database per backend */
const newDigest = (what: string) => digestOf(`layer-cache/${what}/${++unique}`)

describe.each(backends)('the layer cache on $name', (backend) => {
  let database: LayerleakDatabase & { url?: string }
  /** the cache, and how many statements it has sent since it was made */
  const countedCache = () => {
    let statements = 0
    const db = database.db.withPlugin({
      transformQuery: ({ node }) => {
        statements++
        return node
      },
      transformResult: async ({ result }) => result,
    })
    return { cache: databaseLayerCache({ ...database, db }), statements: () => statements }
  }

  beforeAll(async () => {
    database = await backend.fresh()
    await migrateUp(database.db)
  })
  afterAll(async () => {
    await database?.close()
  })

  it('gives back what was put: counts, entries in order with their kinds, whiteouts, opaque directories', async () => {
    const cache = databaseLayerCache(database)
    const record = smallRecord(newDigest('round-trip'))
    await cache.put([record], 'catalog-1')
    const found = await cache.get([record.digest], 'catalog-1')
    expect([...found.keys()]).toEqual([record.digest])
    expect(found.get(record.digest)).toEqual(record)
  })

  it('keeps catalog versions apart: a layer put under one catalog is a miss under another', async () => {
    const cache = databaseLayerCache(database)
    const digest = newDigest('catalogs')
    const underOne = smallRecord(digest)
    const underTwo = { ...smallRecord(digest), files: 5, entries: [...underOne.entries, ['usr/bin/new-tool', false] as [string, boolean]] }
    await cache.put([underOne], 'catalog-1')
    expect((await cache.get([digest], 'catalog-2')).size).toBe(0)
    await cache.put([underTwo], 'catalog-2')
    expect((await cache.get([digest], 'catalog-1')).get(digest)).toEqual(underOne)
    expect((await cache.get([digest], 'catalog-2')).get(digest)).toEqual(underTwo)
  })

  it('answers for hundreds of digests in one query, leaving out the unknown ones', async () => {
    const records = Array.from({ length: 300 }, (_, i) => ({ ...smallRecord(newDigest('many')), files: i }))
    const { cache, statements } = countedCache()
    await cache.put(records, 'catalog-1')
    expect(statements()).toBe(1)
    const unknown = Array.from({ length: 40 }, () => newDigest('never-put'))
    const asked = [...unknown, ...records.map((record) => record.digest).reverse(), records[0].digest, '']
    const before = statements()
    const found = await cache.get(asked, 'catalog-1')
    expect(statements() - before).toBe(1)
    expect(found.size).toBe(300)
    for (const record of records) expect(found.get(record.digest)).toEqual(record)
    for (const digest of unknown) expect(found.has(digest)).toBe(false)
  })

  it('asks nothing of the database for nothing', async () => {
    const { cache, statements } = countedCache()
    expect((await cache.get([], 'catalog-1')).size).toBe(0)
    await cache.put([], 'catalog-1')
    expect(statements()).toBe(0)
  })

  it('put is idempotent: the same records twice leave one row each; a record put again replaces the first', async () => {
    const cache = databaseLayerCache(database)
    const records = [smallRecord(newDigest('twice')), smallRecord(newDigest('twice'))]
    await cache.put(records, 'catalog-1')
    await cache.put(records, 'catalog-1')
    const rowsOf = (digests: string[]) => database.db.selectFrom('layer_changesets').select(['layer_digest', 'files']).where('layer_digest', 'in', digests).orderBy('layer_digest').execute()
    expect(await rowsOf(records.map((record) => record.digest))).toHaveLength(2)

    const again = { ...records[0], files: 99, whiteouts: [] }
    // the same digest twice in one put: the last one wins, and it is one row
    await cache.put([{ ...again, files: 98 }, again], 'catalog-1')
    expect((await rowsOf([again.digest])).map((row) => row.files)).toEqual([99])
    expect((await cache.get([again.digest], 'catalog-1')).get(again.digest)).toEqual(again)
  })

  it('two writers putting the same layers at once end with one row per layer', async () => {
    const records = Array.from({ length: 50 }, () => smallRecord(newDigest('concurrent')))
    // a second connection to a server database; PGlite is one session, shared
    const other = database.url ? await connectDatabase({ url: database.url }) : undefined
    try {
      const [first, second] = [databaseLayerCache(database), databaseLayerCache(other ?? database)]
      await Promise.all([first.put(records, 'catalog-1'), second.put([...records].reverse(), 'catalog-1'), second.put(records, 'catalog-1')])
    } finally {
      await other?.close()
    }
    const rows = await database.db.selectFrom('layer_changesets').select('layer_digest').where('layer_digest', 'in', records.map((record) => record.digest)).execute()
    expect(rows).toHaveLength(50)
  })

  it('a stored changeset it cannot read is a miss, not an error', async () => {
    const cache = databaseLayerCache(database)
    const [good, bad] = [smallRecord(newDigest('good')), smallRecord(newDigest('unreadable'))]
    await cache.put([good, bad], 'catalog-1')
    await sql`update layer_changesets set changeset = cast(${'{"entries": ["a"], "directories": ""}'} as json) where layer_digest = ${bad.digest}`.execute(database.db)
    const found = await cache.get([good.digest, bad.digest], 'catalog-1')
    expect([...found.keys()]).toEqual([good.digest])
  })

  it('refuses a record without a digest or with counts that are not whole numbers', async () => {
    const cache = databaseLayerCache(database)
    await expect(cache.put([{ ...smallRecord(''), digest: '' }], 'catalog-1')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(cache.put([{ ...smallRecord(newDigest('bad-count')), files: -1 }], 'catalog-1')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(cache.put([{ ...smallRecord(newDigest('bad-count')), bytes: 1.5 }], 'catalog-1')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
  })

  it('stores and returns a 50,000-path layer whole, compressed in the table', async () => {
    const cache = databaseLayerCache(database)
    const record = bigRecord(newDigest('big'), 50_000)
    await cache.put([record], 'catalog-1')
    const found = await cache.get([record.digest], 'catalog-1')
    expect(found.get(record.digest)).toEqual(record)
    const { rows } = await sql<{ stored: number; text: number; path_count: number }>`
      select pg_column_size(changeset) as stored, octet_length(changeset::text) as text, path_count
      from layer_changesets where layer_digest = ${record.digest}`.execute(database.db)
    expect(rows[0].path_count).toBe(50_000 + 200 + 1)
    // the document is stored compressed: far less than its text
    expect(rows[0].stored).toBeLessThan(rows[0].text / 4)
  })

  it('gives back a layer with matches whole under its catalog and filter signature', async () => {
    const cache = databaseLayerCache(database)
    const record = matchedRecord(newDigest('matched-round-trip'))
    await cache.put([record], 'catalog-1', 'signature-a')
    expect((await cache.get([record.digest], 'catalog-1', 'signature-a')).get(record.digest)).toEqual(record)
  })

  it('keeps filter signatures apart, and gives layers with matches only to a reader that names one', async () => {
    const cache = databaseLayerCache(database)
    const matched = matchedRecord(newDigest('signatures'))
    const clean = smallRecord(newDigest('signatures-clean'))
    await cache.put([matched, clean], 'catalog-1', 'signature-a')
    const digests = [matched.digest, clean.digest]
    expect([...(await cache.get(digests, 'catalog-1', 'signature-b')).keys()]).toEqual([clean.digest])
    expect([...(await cache.get(digests, 'catalog-1')).keys()]).toEqual([clean.digest])
    expect((await cache.get(digests, 'catalog-2', 'signature-a')).size).toBe(0)
    expect([...(await cache.get(digests, 'catalog-1', 'signature-a')).keys()].sort()).toEqual([...digests].sort())
  })

  it('stores layers with matches apart from clean ones, where an older layerleak looking for clean layers never finds them', async () => {
    const cache = databaseLayerCache(database)
    const record = matchedRecord(newDigest('apart'))
    await cache.put([record], 'catalog-1', 'signature-a')
    expect(await database.db.selectFrom('layer_changesets').select('layer_digest').where('layer_digest', '=', record.digest).execute()).toEqual([])
    const rows = await database.db.selectFrom('layer_matches').select(['filter_signature', 'match_count', 'path_count']).where('layer_digest', '=', record.digest).execute()
    expect(rows).toEqual([{ filter_signature: 'signature-a', match_count: 2, path_count: 10 }])
  })

  it('answers for clean layers and layers with matches in one query', async () => {
    const matched = Array.from({ length: 150 }, () => matchedRecord(newDigest('many-matched')))
    const clean = Array.from({ length: 150 }, () => smallRecord(newDigest('many-clean')))
    const { cache, statements } = countedCache()
    await cache.put([...matched, ...clean], 'catalog-1', 'signature-a')
    const before = statements()
    const found = await cache.get([...clean, ...matched].map((record) => record.digest), 'catalog-1', 'signature-a')
    expect(statements() - before).toBe(1)
    expect(found.size).toBe(300)
    for (const record of [...matched, ...clean]) expect(found.get(record.digest)).toEqual(record)
  })

  it('a layer with matches put again replaces the first, one row per signature', async () => {
    const cache = databaseLayerCache(database)
    const first = matchedRecord(newDigest('matched-twice'))
    const again = { ...first, files: 99, matches: first.matches!.slice(1) }
    await cache.put([first], 'catalog-1', 'signature-a')
    await cache.put([again], 'catalog-1', 'signature-a')
    await cache.put([first], 'catalog-1', 'signature-b')
    expect((await cache.get([first.digest], 'catalog-1', 'signature-a')).get(first.digest)).toEqual(again)
    expect((await cache.get([first.digest], 'catalog-1', 'signature-b')).get(first.digest)).toEqual(first)
  })

  it('refuses a record with matches without a filter signature', async () => {
    const cache = databaseLayerCache(database)
    const record = matchedRecord(newDigest('no-signature'))
    await expect(cache.put([record], 'catalog-1')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    expect((await cache.get([record.digest], 'catalog-1', '')).size).toBe(0)
  })

  it.each([
    ['not a list', '{"detector": "github-pat"}'],
    ['an empty list', '[]'],
    ['a match without its fingerprint', (text: string) => text.replace(/"fingerprint":"[0-9a-f]{64}",/, '')],
    ['a match with an unknown disposition', (text: string) => text.replace('"disposition":"actionable"', '"disposition":"ignored"')],
    ['a match with a negative line', (text: string) => text.replace('"line":3', '"line":-3')],
  ])('stored matches it cannot read (%s) are a miss, not an error', async (_, spoil) => {
    const cache = databaseLayerCache(database)
    const [good, bad] = [matchedRecord(newDigest('matches-good')), matchedRecord(newDigest('matches-unreadable'))]
    await cache.put([good, bad], 'catalog-1', 'signature-a')
    const stored = (await sql<{ matches: string }>`select matches::text as matches from layer_matches where layer_digest = ${bad.digest}`.execute(database.db)).rows[0].matches
    const spoiled = typeof spoil === 'string' ? spoil : spoil(stored)
    expect(spoiled).not.toBe(stored)
    await sql`update layer_matches set matches = cast(${spoiled} as json) where layer_digest = ${bad.digest}`.execute(database.db)
    const found = await cache.get([good.digest, bad.digest], 'catalog-1', 'signature-a')
    expect([...found.keys()]).toEqual([good.digest])
  })

  it('a layer whose stored matches cannot be read is a miss even beside a clean row of it', async () => {
    const cache = databaseLayerCache(database)
    const record = matchedRecord(newDigest('spoiled-beside-clean'))
    const { matches: _, ...clean } = record
    await cache.put([clean], 'catalog-1')
    await cache.put([record], 'catalog-1', 'signature-a')
    await sql`update layer_matches set matches = cast(${'[{"detector": 1}]'} as json) where layer_digest = ${record.digest}`.execute(database.db)
    expect((await cache.get([record.digest], 'catalog-1', 'signature-a')).size).toBe(0)
  })
})
