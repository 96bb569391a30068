/**
 * The two databases layerleak stores into, for suites that must hold for both: a real PostgreSQL
 * server (a fresh database on the shared test server) and the embedded PGlite (in memory).
 */
import { PGlite } from '@electric-sql/pglite'
import { connectDatabase, type LayerleakDatabase } from '../../plugins/sinks/database.ts'
import { createTestDatabase } from './postgres-server.ts'

export interface StorageBackend {
  name: 'postgresql' | 'pglite'
  /** a new, empty database: nothing migrated */
  fresh(options?: { migrationsDir?: string }): Promise<LayerleakDatabase & { url?: string }>
}

// initdb is most of PGlite's start-up: run it once per test file and start every fresh embedded
// database from a copy of that empty cluster
let emptyCluster: Promise<Blob> | undefined
const freshPglite = async (): Promise<PGlite> => {
  emptyCluster ??= (async () => {
    const template = new PGlite()
    try {
      await template.waitReady
      return await template.dumpDataDir('none')
    } finally {
      await template.close()
    }
  })()
  const pglite = new PGlite({ loadDataDir: await emptyCluster })
  await pglite.waitReady
  return pglite
}

export const storageBackends = (serverUrl: string): StorageBackend[] => [
  {
    name: 'postgresql',
    async fresh(options = {}) {
      const url = await createTestDatabase(serverUrl)
      return { ...(await connectDatabase({ url, ...options })), url }
    },
  },
  {
    name: 'pglite',
    fresh: async (options = {}) => connectDatabase({ pglite: await freshPglite(), ...options }),
  },
]
