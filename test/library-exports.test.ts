import { describe, expect, it } from 'vitest'
import { fakeGitHubToken } from '../cli/demo-image.ts'
import * as layerleak from '../index.ts'

describe('layerleak as a library', () => {
  it('exports the define helpers, the pipeline and every built-in plugin factory', () => {
    for (const name of [
      'defineConfig', 'defineDetector', 'scanReference', 'LayerleakError',
      'registrySource', 'ociLayoutSource', 'dockerArchiveSource',
      'fixturesFilter', 'allowlistFilter', 'baselineFilter', 'canaryFilter',
      'jsonFileSink', 'sarifFileSink', 'postgresSink', 'builtinDetectors', 'fileScanPool',
    ]) {
      expect(layerleak, name).toHaveProperty(name)
    }
  })

  it('scans on worker threads with a pool from the library, as the CLI does', async () => {
    const pool = layerleak.fileScanPool({ detectors: layerleak.builtinDetectors, workers: 1 })
    expect(await pool?.ready).toBe(1)
    const found = await pool?.scan(new TextEncoder().encode(`GITHUB_TOKEN=${fakeGitHubToken()}\n`), 'app/.env', 1024 * 1024)
    expect(found?.map((match) => match.detectorId)).toEqual(['github-personal-access-token'])
    await pool?.close()
  })
})
