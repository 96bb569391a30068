/**
 * Many rows in one statement, whatever their number: each column travels as one array parameter
 * and `unnest()` turns the arrays back into rows (`insert into t (a, b) select * from
 * unnest($1::text[], $2::bigint[])`). A statement of 10,000 rows then has a handful of parameters
 * rather than hundreds of thousands: nothing near the protocol's 65,535-parameter limit, and far
 * less for the server to parse and plan (and for PGlite to copy in) than a VALUES list. Each array
 * travels as the text of its literal, so the SQL and the bytes are the same for PostgreSQL and PGlite.
 */
import { type RawBuilder, sql } from 'kysely'

export type ArrayElementType = 'text' | 'bigint' | 'integer' | 'boolean' | 'timestamptz'
export type ColumnValue = string | number | boolean | null

/** column name -> its Postgres type and how to read it from a row; the key order is the column order */
export type ArrayColumns<R> = Record<string, readonly [ArrayElementType, (row: R) => ColumnValue]>

/** Rows per statement: large enough that a big scan takes few statements, small enough to bound one statement's memory. */
export const ROWS_PER_STATEMENT = 10_000

const ESCAPED = /["\\]/g

/**
 * The Postgres array literal of the values: `{"a","b\\"c",NULL}`. Built here rather than
 * by the drivers: both serialize arrays element by element through generic code, which for a
 * 10,000-row statement cost more than the server's whole insert. Inside double quotes only `"` and
 * `\` need escaping; booleans go as t/f, numbers bare, everything else quoted.
 */
export const arrayLiteral = (values: readonly ColumnValue[]): string => {
  // one part per value and a join: appending to one string builds a rope of 10,000 pieces that
  // costs more to flatten than the whole loop
  const parts = new Array<string>(values.length)
  for (let i = 0; i < values.length; i++) {
    const value = values[i]
    if (value === null || value === undefined) parts[i] = 'NULL'
    else if (typeof value === 'number') parts[i] = Number.isFinite(value) ? String(value) : 'NULL'
    else if (typeof value === 'boolean') parts[i] = value ? 't' : 'f'
    else if (value.indexOf('"') === -1 && value.indexOf('\\') === -1) parts[i] = `"${value}"`
    else parts[i] = `"${value.replace(ESCAPED, '\\$&')}"`
  }
  return `{${parts.join(',')}}`
}

/**
 * `cast($1 as bigint[])` bound to the literal's text. The parameter stays typed as the array (both
 * drivers pass a string through for an array-typed parameter), so the planner sees its value: a
 * cast from text would be a function call, evaluated again for every row of a filter.
 */
export const arrayParameter = (values: readonly ColumnValue[], type: ArrayElementType): RawBuilder<unknown> =>
  sql`cast(${arrayLiteral(values)} as ${sql.raw(type)}[])`

/** `select * from unnest(<column 1 array>, <column 2 array>, ...)`: the rows, one array per column */
export const unnestRows = <R>(rows: readonly R[], columns: ArrayColumns<R>): RawBuilder<unknown> =>
  sql`select * from unnest(${sql.join(Object.values(columns).map(([type, value]) => arrayParameter(rows.map(value), type)))})`

/** `(a, b, c)` without the parentheses: the column list an insert of unnestRows(rows, columns) names */
export const columnNames = (columns: ArrayColumns<never>): RawBuilder<unknown> => sql.join(Object.keys(columns).map((name) => sql.ref(name)))

/** `insert into table (a, b, c) select * from unnest(...)`: add `on conflict ...` and `returning ...` after it */
export const insertUnnested = <R>(table: string, rows: readonly R[], columns: ArrayColumns<R>): RawBuilder<unknown> =>
  sql`insert into ${sql.table(table)} (${columnNames(columns as ArrayColumns<never>)}) ${unnestRows(rows, columns)}`

export const batches = <T>(rows: readonly T[], size = ROWS_PER_STATEMENT): T[][] => {
  const out: T[][] = []
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size))
  return out
}
