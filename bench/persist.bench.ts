/**
 * Storing a scan result: 5,000 findings (4,000 actionable, 1,000 suppressed), two occurrences each,
 * into the real PostgreSQL the test setup starts and into the embedded PGlite (in memory).
 * "new image" inserts everything (a result never stored before, each iteration); "re-scan" stores
 * the same result again, the upsert path a daily re-scan takes.
 *
 *   npx vitest bench --run bench/persist.bench.ts
 */
import { afterAll, bench, describe, inject } from 'vitest'
import type { ScanResult } from '../core/result.ts'
import { migrateUp } from '../plugins/sinks/migrations.ts'
import { postgresSink } from '../plugins/sinks/postgres.ts'
import { buildScanResult } from '../test/support/scan-results.ts'
import { storageBackends } from '../test/support/storage-backends.ts'

const FINDINGS = { actionable: 4_000, suppressed: 1_000, occurrencesPerFinding: 2 }
const ITERATIONS = 5

let image = 0
const freshResult = (): ScanResult => buildScanResult({ name: `bench/persist-${++image}`, ...FINDINGS })

const opened: Array<() => Promise<void>> = []
afterAll(async () => {
  await Promise.all(opened.map((close) => close()))
})

for (const backend of storageBackends(inject('postgresUrl'))) {
  const database = await backend.fresh()
  await migrateUp(database.db)
  const sink = postgresSink({ database })
  opened.push(() => database.close())
  // built ahead so the figures are the database's, not the fixture generator's (warm-up included)
  const fresh = Array.from({ length: ITERATIONS + 2 }, freshResult)
  const again = freshResult()
  await sink.write(again)

  describe(`persist 5,000 findings into ${backend.name}`, () => {
    bench(
      'new image',
      async () => {
        const result = fresh.pop()
        if (!result) throw new Error('ran out of prepared results')
        await sink.write(result)
      },
      { iterations: ITERATIONS, time: 0, warmupIterations: 1, warmupTime: 0 },
    )
    bench(
      're-scan (upsert)',
      async () => {
        await sink.write(again)
      },
      { iterations: ITERATIONS, time: 0, warmupIterations: 1, warmupTime: 0 },
    )
  })
}
