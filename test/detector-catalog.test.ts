import { describe, expect, it } from 'vitest'
import { createPrefilter } from '../core/prefilter.ts'
import { TextScanner } from '../core/text-scanner.ts'
import { builtinDetectors, detectorCatalogVersion } from '../plugins/detectors/catalog.ts'

const at = { sourceType: 'file_final' as const, path: 'srv/app/settings.txt', key: '' }

describe('the built-in catalog', () => {
  it('has at least 200 detectors with unique ids', () => {
    expect(builtinDetectors.length).toBeGreaterThanOrEqual(200)
    expect(new Set(builtinDetectors.map((detector) => detector.id)).size).toBe(builtinDetectors.length)
  })

  it('has a version that changes when a detector changes', () => {
    const version = detectorCatalogVersion(builtinDetectors)
    expect(version).toMatch(/^[0-9a-f]{12}$/)
    expect(detectorCatalogVersion(builtinDetectors.slice(1))).not.toBe(version)
  })

  // through the real scanner: the prefilter must select the detector and its keyword windows must
  // hold the secret, in a file padded so windows are smaller than the text
  const padding = `${'# nothing to see here, just configuration comments\n'.repeat(400)}`
  for (const detector of builtinDetectors) {
    it(`finds every example of ${detector.id} through the prefilter and keyword windows`, () => {
      const scanner = new TextScanner([detector], createPrefilter([detector]))
      for (const example of detector.examples) {
        const text = `${padding}${example}\n${padding}`
        const found = scanner.scanBytes(new TextEncoder().encode(text), at).filter((match) => match.detectorId === detector.id)
        expect(found.length, `example: ${example.slice(0, 80)}`).toBeGreaterThan(0)
      }
    })
  }
})
