/**
 * kysely over PGlite. PGlite is one Postgres session in-process, so the "pool" hands out that one
 * session to one holder at a time: a transaction keeps it from BEGIN to COMMIT and every other query
 * waits its turn, exactly as it would wait for a free connection of a one-connection pool.
 * kysely's own PostgresDialect does the rest (SQL, transactions, savepoints).
 */
import type { PGlite } from '@electric-sql/pglite'
import { PostgresDialect, type PostgresPool, type PostgresPoolClient, type PostgresQueryResult } from 'kysely'

type Release = () => void

/** FIFO lock: `acquire()` resolves, in call order, once every earlier holder has released. */
const createMutex = () => {
  let tail: Promise<void> = Promise.resolve()
  return {
    acquire(): Promise<Release> {
      let release!: Release
      const held = new Promise<void>((resolve) => (release = resolve))
      const turn = tail.then(() => release)
      tail = tail.then(() => held)
      return turn
    },
  }
}

const MODIFYING = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE'])

const toQueryResult = <R>(result: { rows: unknown[]; command?: string; rowCount?: number; affectedRows?: number }): PostgresQueryResult<R> => {
  const command = (result.command ?? 'SELECT').toUpperCase()
  return {
    command: (MODIFYING.has(command) ? command : 'SELECT') as PostgresQueryResult<R>['command'],
    rowCount: result.rowCount ?? result.affectedRows ?? result.rows.length,
    rows: result.rows as R[],
  }
}

const pglitePool = (pglite: PGlite): PostgresPool => {
  const mutex = createMutex()
  const client = {
    async query<R>(sql: string, parameters: readonly unknown[]): Promise<PostgresQueryResult<R>> {
      // without parameters, the simple protocol: a migration file holds many statements
      if (parameters.length === 0) {
        const results = await pglite.exec(sql)
        return toQueryResult<R>(results.at(-1) ?? { rows: [] })
      }
      return toQueryResult<R>(await pglite.query(sql, [...parameters]))
    },
  }
  return {
    async connect(): Promise<PostgresPoolClient> {
      const release = await mutex.acquire()
      let released = false
      return {
        query: client.query as PostgresPoolClient['query'],
        release() {
          if (released) return
          released = true
          release()
        },
      }
    },
    async end() {
      // wait for the holder of the session (a transaction in flight) before closing it
      const release = await mutex.acquire()
      try {
        if (!pglite.closed) await pglite.close()
      } finally {
        release()
      }
    },
  }
}

export const pgliteDialect = (pglite: PGlite): PostgresDialect => new PostgresDialect({ pool: pglitePool(pglite) })
