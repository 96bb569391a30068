import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { fakeAwsKeyPair, fakeGitHubToken } from '../cli/demo-image.ts'
import { defineDetector } from '../core/detector.ts'
import type { ScanResult } from '../core/result.ts'
import { builtinDetectors } from '../plugins/detectors/catalog.ts'
import { buildImage, whiteout } from '../plugins/sources/image-builder.ts'
import { defaultScanWorkers, fileScanPool, type FileScanWorkers } from '../plugins/workers/file-scan-pool.ts'
import { scanImageFromLayout } from './support/scan.ts'
import { loadDetection } from '../cli/detection-setup.ts'
import { loadConfig } from '../cli/load-config.ts'
import { githubToken, slackBotToken } from './support/fake-secrets.ts'
import { type Runtime, runScript } from './support/run-cli.ts'

const pools: FileScanWorkers[] = []
const poolOf = (options: Parameters<typeof fileScanPool>[0]): FileScanWorkers => {
  const pool = fileScanPool(options)
  if (!pool) throw new Error('expected a pool')
  pools.push(pool)
  return pool
}
afterAll(() => Promise.all(pools.map((pool) => pool.close())))

/** what a scan reports, without its clock */
const reported = (result: ScanResult) => {
  const timeless = (findings: ScanResult['findings']) => findings.map(({ first_seen_at: _, last_seen_at: __, ...finding }) => finding)
  return { findings: timeless(result.findings), suppressed: timeless(result.suppressed_findings), coverage: result.coverage, diagnostics: result.diagnostics, status: result.status }
}

/** secrets in small files, in a file larger than the scan window, behind a hardlink, deleted by a later layer, under test/ */
const fixture = () => {
  const { id, secret } = fakeAwsKeyPair()
  const filler = `${'log line with nothing in it\n'.repeat(40_000)}`
  return buildImage({
    layers: [
      {
        files: [
          { path: 'etc/token', content: `GITHUB_TOKEN=${fakeGitHubToken()}\n` },
          { path: 'root/token-link', type: 'hardlink', linkname: 'etc/token' },
          { path: 'root/.aws/credentials', content: `[default]\naws_access_key_id = ${id}\naws_secret_access_key = ${secret}\n` },
          { path: 'var/log/big.log', content: `${filler}SLACK=${slackBotToken()}\n${filler}token: ${githubToken()}\n` },
          { path: 'app/test/fixtures/key.txt', content: `${githubToken()}\n` },
          ...Array.from({ length: 300 }, (_, i) => ({ path: `usr/share/doc/${i}.txt`, content: `plain text ${i}\n`.repeat(50) })),
        ],
      },
      { files: [whiteout('root/.aws/credentials'), { path: 'srv/.env', content: `DB_PASSWORD=Xk29fLq8Zt!mQ\n` }] },
    ],
  })
}

describe('the file-scan pool', () => {
  it('reports, through worker threads, exactly what the calling thread reports', async () => {
    const image = await fixture()
    const pool = poolOf({ detectors: builtinDetectors, workers: 2 })
    expect(await pool.ready).toBe(2)
    const here = await scanImageFromLayout(image, { limits: { maxFileBytes: 256 * 1024 } })
    const there = await scanImageFromLayout(image, { limits: { maxFileBytes: 256 * 1024 }, fileScanPool: pool })
    expect(here.total_findings).toBeGreaterThanOrEqual(5)
    expect(pool.workerCount).toBe(2)
    expect(pool.scanned).toEqual({ byWorkers: there.coverage.files_scanned, here: 0 })
    expect(reported(there)).toEqual(reported(here))
  })

  it('scans on the calling thread when its workers cannot start, and finds the same', async () => {
    const image = await fixture()
    const pool = poolOf({ detectors: builtinDetectors, workers: 1, workerUrl: new URL('./no-such-worker.js', import.meta.url) })
    expect(await pool.ready).toBe(0)
    const here = await scanImageFromLayout(image)
    const there = await scanImageFromLayout(image, { fileScanPool: pool })
    expect(reported(there)).toEqual(reported(here))
    expect(pool.workerCount).toBe(0)
    expect(pool.scanned).toEqual({ byWorkers: 0, here: there.coverage.files_scanned })
  })

  it('holds the scan back while its backlog is full, and still scans everything', async () => {
    const image = await fixture()
    const pool = poolOf({ detectors: builtinDetectors, workers: 1, maxBacklogBytes: 1 })
    await pool.ready
    expect(reported(await scanImageFromLayout(image, { fileScanPool: pool }))).toEqual(reported(await scanImageFromLayout(image)))
  })

  it('is only built for detectors a worker can rebuild: the built-in ones', () => {
    const own = defineDetector({ id: 'acme-token', name: 'Acme', description: 'acme_ tokens', confidence: 'high', keywords: ['acme_'], pattern: /acme_[a-z0-9]{20}/, examples: [] })
    expect(fileScanPool({ detectors: [...builtinDetectors, own] })).toBeUndefined()
    expect(fileScanPool({ detectors: [] })).toBeUndefined()
    const some = poolOf({ detectors: builtinDetectors.slice(0, 10), workers: 1 })
    expect(some.workerCount).toBe(1)
  })

  describe("with a config's own detectors", () => {
    const configFile = async (detectorId: string) => {
      await mkdir(resolve(import.meta.dirname, '../test-artifacts'), { recursive: true })
      const dir = await mkdtemp(resolve(import.meta.dirname, '../test-artifacts/config-'))
      const configPath = join(dir, 'layerleak.config.ts')
      await writeFile(
        configPath,
        `import { defineConfig, defineDetector } from ${JSON.stringify(resolve(import.meta.dirname, '../index.ts'))}
export default defineConfig({
  detectors: [defineDetector({ id: '${detectorId}', name: 'ACME', description: 'ACME deploy keys', confidence: 'high', keywords: ['adk_'], pattern: /(?<secret>adk_[A-Za-z0-9]{40})/, examples: [] })],
})
`,
      )
      return configPath
    }
    const workerModule = new URL('../dist/cli/scan-worker-detectors.js', import.meta.url)

    it('loads them in its workers from the config file, and finds what they find there', async () => {
      const configPath = await configFile('acme-deploy-key')
      const { config } = await loadConfig(configPath)
      const { detectors } = await loadDetection({ config, configPath })
      expect(fileScanPool({ detectors })).toBeUndefined()
      const pool = poolOf({ detectors, workers: 1, detectorsFrom: { module: workerModule, options: { configPath, cwd: process.cwd() } } })
      expect(await pool.ready).toBe(1)
      const key = `adk_${'Zq8rT2mK9vLw4xPn'.repeat(3).slice(0, 40)}`
      const matches = await pool.scan(new TextEncoder().encode(`ACME=${key}\nGITHUB_TOKEN=${githubToken()}\n`), 'srv/.env', 1 << 20)
      expect(matches.map((match) => match.detectorId).sort()).toEqual(['acme-deploy-key', 'github-personal-access-token'])
      expect(pool.scanned).toEqual({ byWorkers: 1, here: 0 })
    })

    it('scans on the calling thread when the workers cannot rebuild every detector', async () => {
      const { config } = await loadConfig(await configFile('acme-deploy-key'))
      const { detectors } = await loadDetection({ config })
      // the workers load a config whose detector has another id
      const pool = poolOf({ detectors, workers: 1, detectorsFrom: { module: workerModule, options: { configPath: await configFile('other-id'), cwd: process.cwd() } } })
      expect(await pool.ready).toBe(0)
      const matches = await pool.scan(new TextEncoder().encode(`ACME=adk_${'Tq9xL2mVr7KzW4pN'.repeat(3).slice(0, 40)}\n`), 'srv/.env', 1 << 20)
      expect(matches.map((match) => match.detectorId)).toEqual(['acme-deploy-key'])
      expect(pool.scanned).toEqual({ byWorkers: 0, here: 1 })
    })
  })

  it('finishes the files it was handed before it closes', async () => {
    const pool = fileScanPool({ detectors: builtinDetectors, workers: 1 }) as FileScanWorkers
    await pool.ready
    const tokens = Array.from({ length: 50 }, () => githubToken())
    const scans = tokens.map((token, i) => pool.scan(new TextEncoder().encode(`GITHUB_TOKEN=${token}\n${'filler line\n'.repeat(5000)}`), `app/${i}.env`, 1 << 20))
    await pool.close()
    expect((await Promise.all(scans)).map((matches) => matches.map((match) => match.value))).toEqual(tokens.map((token) => [token]))
    expect(pool.scanned.byWorkers + pool.scanned.here).toBe(50)
  })

  it('refuses work once closed', async () => {
    const pool = fileScanPool({ detectors: builtinDetectors, workers: 1 }) as FileScanWorkers
    await pool.close()
    await expect(pool.scan(new Uint8Array(4), 'a', 1024)).rejects.toMatchObject({ code: 'ABORTED' })
  })

  it('scans on the calling thread until a worker is ready, so nothing waits for one to load', async () => {
    const image = await fixture()
    const pool = poolOf({ detectors: builtinDetectors, workers: 1 })
    const result = await scanImageFromLayout(image, { fileScanPool: pool })
    const { byWorkers, here } = pool.scanned
    expect(byWorkers + here).toBe(result.coverage.files_scanned)
    expect(reported(result)).toEqual(reported(await scanImageFromLayout(image)))
  })

  for (const runtime of ['node', 'bun', 'deno'] as Runtime[]) {
    it(`starts its worker and scans on it from the built package under ${runtime}`, async () => {
      // inside the project: Deno resolves the package's own dependencies from the script's place
      await mkdir(resolve(import.meta.dirname, '../test-artifacts'), { recursive: true })
      const dir = await mkdtemp(resolve(import.meta.dirname, '../test-artifacts/pool-'))
      const script = join(dir, 'pool.mjs')
      const token = githubToken()
      await writeFile(
        script,
        `import { builtinDetectors, fileScanPool } from ${JSON.stringify(pathToFileURL(resolve(import.meta.dirname, '../dist/index.js')).href)}
const pool = fileScanPool({ detectors: builtinDetectors, workers: 1 })
const ready = await pool.ready
const matches = await pool.scan(new TextEncoder().encode('GITHUB_TOKEN=${token}\\n'), 'app/.env', 1 << 20)
console.log(JSON.stringify({ ready, detectors: matches.map((match) => match.detectorId), scanned: pool.scanned }))
await pool.close()
`,
      )
      const run = await runScript(runtime, script, [])
      expect(run.code, run.stderr).toBe(0)
      expect(JSON.parse(run.stdout)).toEqual({ ready: 1, detectors: ['github-personal-access-token'], scanned: { byWorkers: 1, here: 0 } })
    })
  }

  it('runs one worker per core but one by default, at most 8', () => {
    expect([1, 2, 3, 4, 16].map((cores) => defaultScanWorkers(cores))).toEqual([0, 1, 2, 3, 8])
  })
})
