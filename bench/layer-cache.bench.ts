/**
 * The layer cache (plugins/sinks/layer-cache.ts), clean layers, on the real PostgreSQL the test setup
 * starts and on the embedded PGlite (in memory): one layer of 50,000 paths put and got (a language
 * runtime's site-packages), and a sweep's worth of 200 layers of 1,000 paths each in one put and
 * one get. Figures: bench/README.md.
 *
 *   npx vitest bench --run bench/layer-cache.bench.ts
 */
import { afterAll, bench, describe, inject } from 'vitest'
import type { LayerRecord } from '../core/contracts.ts'
import { databaseLayerCache } from '../plugins/sinks/layer-cache.ts'
import { migrateUp } from '../plugins/sinks/migrations.ts'
import { bigRecord } from '../test/support/layer-records.ts'
import { digestOf } from '../test/support/scan-results.ts'
import { storageBackends } from '../test/support/storage-backends.ts'

const ITERATIONS = 5
const options = { iterations: ITERATIONS, time: 0, warmupIterations: 1, warmupTime: 0 }

let layer = 0
const big = (): LayerRecord => bigRecord(digestOf(`bench/layer-cache/big/${++layer}`), 50_000)
const sweep = (): LayerRecord[] => Array.from({ length: 200 }, () => bigRecord(digestOf(`bench/layer-cache/sweep/${++layer}`), 1_000))

const opened: Array<() => Promise<void>> = []
afterAll(async () => {
  await Promise.all(opened.map((close) => close()))
})

for (const backend of storageBackends(inject('postgresUrl'))) {
  const database = await backend.fresh()
  await migrateUp(database.db)
  opened.push(() => database.close())
  const cache = databaseLayerCache(database)
  // built ahead, so the figures are the cache's and not the generator's
  const bigOnes = Array.from({ length: ITERATIONS + 2 }, big)
  const sweeps = Array.from({ length: ITERATIONS + 2 }, sweep)
  const stored = big()
  const storedSweep = sweep()
  await cache.put([stored, ...storedSweep], 'catalog-1')

  describe(`layer cache on ${backend.name}`, () => {
    bench(
      'put one 50,000-path layer',
      async () => {
        await cache.put([bigOnes.pop()!], 'catalog-1')
      },
      options,
    )
    bench(
      'get one 50,000-path layer',
      async () => {
        if ((await cache.get([stored.digest], 'catalog-1')).size !== 1) throw new Error('the stored layer was not found')
      },
      options,
    )
    bench(
      'put 200 layers of 1,000 paths',
      async () => {
        await cache.put(sweeps.pop()!, 'catalog-1')
      },
      options,
    )
    bench(
      'get 200 layers of 1,000 paths',
      async () => {
        if ((await cache.get(storedSweep.map((record) => record.digest), 'catalog-1')).size !== 200) throw new Error('stored layers missing')
      },
      options,
    )
  })
}
