import { describe, expect, it } from 'vitest'
import * as layerleak from '../index.ts'

describe('layerleak as a library', () => {
  it('exports the define helpers, the pipeline and every built-in plugin factory', () => {
    for (const name of [
      'defineConfig', 'defineDetector', 'scanReference', 'LayerleakError',
      'registrySource', 'ociLayoutSource', 'dockerArchiveSource',
      'fixturesFilter', 'allowlistFilter', 'baselineFilter', 'canaryFilter',
      'jsonFileSink', 'sarifFileSink', 'postgresSink', 'builtinDetectors',
    ]) {
      expect(layerleak, name).toHaveProperty(name)
    }
  })
})
