import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, inject, it } from 'vitest'
import { fakeGitHubToken } from '../cli/demo-image.ts'
import type { ScanResult } from '../core/result.ts'
import { openDatabase } from '../plugins/sinks/database.ts'
import { listRepositoryFindings, listRepositoryScans } from '../plugins/sinks/finding-queries.ts'
import { buildImage } from '../plugins/sources/image-builder.ts'
import { createTestDatabase } from './support/postgres-server.ts'
import { pushImage, uniqueRepository } from './support/push.ts'
import { runCli } from './support/run-cli.ts'

describe('layerleak scan --db', () => {
  let reference: string
  let repository: string

  beforeAll(async () => {
    const image = await buildImage({
      layers: [{ files: [{ path: 'usr/share/doc/base.txt', content: 'nothing secret here\n' }] }, { files: [{ path: 'srv/.env', content: `GITHUB_TOKEN=${fakeGitHubToken()}\n` }] }],
    })
    repository = uniqueRepository('persist')
    await pushImage(inject('registryHost'), repository, image, ['1'])
    reference = `${inject('registryHost')}/${repository}:1`
  })

  const ref = () => ({ registry: inject('registryHost'), name: repository })

  it('stores the result in the embedded database, and a re-scan adds a run without duplicating findings', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'layerleak-data-'))
    const env = { LAYERLEAK_DATA_DIR: dataDir, LAYERLEAK_FINDINGS_DIR: join(dataDir, 'findings') }
    const first = await runCli('node', ['scan', reference, '--db', '--format', 'json'], { env })
    expect(first.code).toBe(2)
    expect(JSON.parse(first.stdout).coverage.layers_cached).toBe(0)
    // both layers are remembered, the clean one and the one with the token (redacted): the second
    // scan downloads neither, and reports the same finding
    const second = await runCli('node', ['scan', reference, '--db', '--format', 'json'], { env })
    expect(second.code).toBe(2)
    expect(JSON.parse(second.stdout).coverage).toMatchObject({ layers_cached: 2, layers_total: 2 })
    const occurrencesOf = (stdout: string) => (JSON.parse(stdout) as ScanResult).findings.map(({ fingerprint, redacted_value, occurrences }) => ({ fingerprint, redacted_value, occurrences }))
    expect(occurrencesOf(second.stdout)).toEqual(occurrencesOf(first.stdout))
    const database = await openDatabase({ dataDir })
    try {
      expect((await listRepositoryScans(database.db, ref()))?.total).toBe(2)
      const findings = await listRepositoryFindings(database.db, ref(), {})
      expect(findings?.total).toBe(1)
      expect(findings?.items[0]).toMatchObject({ detector_name: 'github-personal-access-token' })
    } finally {
      await database.close()
    }
  })

  it('stores into a PostgreSQL server when LAYERLEAK_DATABASE_URL is set, once migrated', async () => {
    const url = await createTestDatabase(inject('postgresUrl'))
    const findingsDir = await mkdtemp(join(tmpdir(), 'layerleak-findings-'))
    const unmigrated = await runCli('node', ['scan', reference], { env: { LAYERLEAK_DATABASE_URL: url, LAYERLEAK_FINDINGS_DIR: findingsDir } })
    expect(unmigrated.code).toBe(1)
    expect(unmigrated.stderr).toContain('layerleak migrate up')
    expect((await runCli('node', ['migrate', 'up'], { env: { LAYERLEAK_DATABASE_URL: url } })).code).toBe(0)
    expect((await runCli('node', ['scan', reference], { env: { LAYERLEAK_DATABASE_URL: url, LAYERLEAK_FINDINGS_DIR: findingsDir } })).code).toBe(2)
    const database = await openDatabase({ url })
    try {
      expect((await listRepositoryFindings(database.db, ref(), {}))?.total).toBe(1)
    } finally {
      await database.close()
    }
  })
})
