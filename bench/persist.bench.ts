/**
 * Storing a scan result: 5,000 findings (4,000 actionable, 1,000 suppressed), two occurrences each,
 * into the real PostgreSQL the test setup starts and into the embedded PGlite (in memory).
 * "new image" inserts everything (a result never stored before, each iteration); "re-scan" stores
 * a later scan of an image already stored (same findings, a day later: every finding and
 * occurrence moves its last_seen_at, the path a daily re-scan takes); "same result again" stores
 * one result a second time (nothing to change). Figures: bench/README.md.
 *
 *   npx vitest bench --run bench/persist.bench.ts
 */
import { afterAll, bench, describe, inject } from 'vitest'
import type { ScanResult } from '../core/result.ts'
import { migrateUp } from '../plugins/sinks/migrations.ts'
import { postgresSink } from '../plugins/sinks/postgres.ts'
import { buildScanResult, rescanned } from '../test/support/scan-results.ts'
import { storageBackends } from '../test/support/storage-backends.ts'

const FINDINGS = { actionable: 4_000, suppressed: 1_000, occurrencesPerFinding: 2 }
const ITERATIONS = 5
const options = { iterations: ITERATIONS, time: 0, warmupIterations: 1, warmupTime: 0 }

let image = 0
const freshResult = (): ScanResult => buildScanResult({ name: `bench/persist-${++image}`, ...FINDINGS, scannedAt: '2026-01-01T00:00:00.000Z' })
const dayAfter = (day: number) => new Date(Date.UTC(2026, 0, 1 + day)).toISOString()

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
  const stored = freshResult()
  await sink.write(stored)
  const later = Array.from({ length: ITERATIONS + 2 }, (_, i) => rescanned(stored, dayAfter(ITERATIONS + 2 - i)))
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
      options,
    )
    bench(
      're-scan (a day later)',
      async () => {
        // popped from the end: each later than the one before
        const result = later.pop()
        if (!result) throw new Error('ran out of prepared results')
        await sink.write(result)
      },
      options,
    )
    bench(
      'same result again',
      async () => {
        await sink.write(again)
      },
      options,
    )
  })
}
