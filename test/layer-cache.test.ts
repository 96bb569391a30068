import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { connectDatabase, type LayerleakDatabase } from '../plugins/sinks/database.ts'
import { databaseLayerCache } from '../plugins/sinks/layer-cache.ts'
import { migrateUp } from '../plugins/sinks/migrations.ts'
import { bigRecord, smallRecord } from './support/layer-records.ts'
import { digestOf } from './support/scan-results.ts'
import { storageBackends } from './support/storage-backends.ts'

const backends = storageBackends(inject('postgresUrl'))

let unique = 0
/** a layer digest no other test of the file uses: tests share one database per backend */
const newDigest = (what: string) => digestOf(`layer-cache/${what}/${++unique}`)

describe.each(backends)('the clean-layer cache on $name', (backend) => {
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
})
