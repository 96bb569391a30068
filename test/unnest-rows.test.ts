import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { LayerleakDatabase } from '../plugins/sinks/database.ts'
import { type ArrayColumns, arrayParameter, batches, unnestRows } from '../plugins/sinks/unnest-rows.ts'
import { storageBackends } from './support/storage-backends.ts'

const backends = storageBackends(inject('postgresUrl'))

interface Row {
  text: string | null
  big: number | null
  small: number | null
  flag: boolean | null
  at: string | null
}

/** Every value an array literal must quote or escape, and the nulls of each type. */
const awkwardTexts = ['', 'NULL', 'null', 'a,b', '{braces}', 'say "hi"', 'back\\slash', 'ends with \\', '\\"', 'new\nline\tand tab', '  spaced  ', 'données 日本語 🔑', null]
const rows: Row[] = awkwardTexts.map((text, i) => ({
  text,
  big: i === 0 ? Number.MAX_SAFE_INTEGER : i === 1 ? -1 : i === 2 ? null : i * 1_000_000_007,
  small: i === 3 ? null : i === 4 ? 2_147_483_647 : 1 - i,
  flag: i % 3 === 0 ? true : i % 3 === 1 ? false : null,
  at: i === 5 ? null : new Date(Date.UTC(2026, 0, 1 + i, 12, 30, 15, 250)).toISOString(),
}))
const columns: ArrayColumns<Row> = {
  text: ['text', (row) => row.text],
  big: ['bigint', (row) => row.big],
  small: ['integer', (row) => row.small],
  flag: ['boolean', (row) => row.flag],
  at: ['timestamptz', (row) => row.at],
}

describe.each(backends)('rows as array parameters on $name', (backend) => {
  let database: LayerleakDatabase

  beforeAll(async () => {
    database = await backend.fresh()
  })
  afterAll(async () => {
    await database?.close()
  })

  it('come back from unnest() as they went in: quotes, backslashes, braces, commas, blanks, "NULL", unicode and nulls', async () => {
    const { rows: back } = await sql<{ text: string | null; big: number | null; small: number | null; flag: boolean | null; at: Date | null }>`
      select u.text, u.big, u.small, u.flag, u.at from (${unnestRows(rows, columns)}) as u (text, big, small, flag, at)`.execute(database.db)
    expect(back.map((row) => ({ ...row, big: row.big === null ? null : Number(row.big), at: row.at === null ? null : new Date(row.at).toISOString() }))).toEqual(rows)
  })

  it('an array parameter filters with = any(): the rows whose value is in it, none for an empty array', async () => {
    await sql`create table numbers (n bigint primary key)`.execute(database.db)
    await sql`insert into numbers select generate_series(1, 20000)`.execute(database.db)
    const wanted = [3, 19_999, 7, 20_001]
    const { rows: found } = await sql<{ n: number }>`select n from numbers where n = any(${arrayParameter(wanted, 'bigint')}) order by n`.execute(database.db)
    expect(found.map((row) => Number(row.n))).toEqual([3, 7, 19_999])
    const { rows: none } = await sql<{ n: number }>`select n from numbers where n = any(${arrayParameter([], 'bigint')})`.execute(database.db)
    expect(none).toEqual([])
  })
})

describe('batches', () => {
  it('splits rows into runs of at most the given size, in order', () => {
    expect(batches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]])
    expect(batches([], 2)).toEqual([])
  })
})
