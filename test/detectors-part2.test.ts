import { describe, expect, it } from 'vitest'
import type { ScanChunk } from '../core/contracts.ts'
import type { DetectorDefinition } from '../core/detector.ts'
import { createPrefilter } from '../core/prefilter.ts'
import { TextScanner } from '../core/text-scanner.ts'
import { aiDetectors } from '../plugins/detectors/ai.ts'
import { databaseDetectors } from '../plugins/detectors/databases.ts'
import { messagingDetectors } from '../plugins/detectors/messaging.ts'
import { observabilityDetectors } from '../plugins/detectors/observability.ts'
import { privateKeyDetectors } from '../plugins/detectors/private-keys.ts'
import { tokenDetectors } from '../plugins/detectors/tokens.ts'

const catalogs: Record<string, DetectorDefinition[]> = {
  messaging: messagingDetectors,
  ai: aiDetectors,
  observability: observabilityDetectors,
  databases: databaseDetectors,
  'private-keys': privateKeyDetectors,
  tokens: tokenDetectors,
}
const everyDetector = Object.values(catalogs).flat()

const chunk = (text: string): ScanChunk => ({ text, sourceType: 'file_final', path: 'srv/app/settings.conf', key: '', binary: false })
const valuesFound = (detector: DetectorDefinition, text: string): string[] => [...detector.detect(chunk(text))].map((match) => match.value)

describe.each(Object.entries(catalogs))('the %s catalog', (_name, detectors) => {
  it('has unique kebab-case ids', () => {
    const ids = detectors.map((detector) => detector.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const id of ids) expect(id).toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/)
  })

  it('gives every detector lower-case, non-empty keywords', () => {
    for (const detector of detectors) {
      expect(detector.keywords.length, detector.id).toBeGreaterThan(0)
      for (const keyword of detector.keywords) expect(keyword, detector.id).toMatch(/^[^A-Z]+$/)
    }
  })

  describe.each(detectors.map((detector) => [detector.id, detector] as const))('%s', (_id, detector) => {
    it('finds a secret in every example, and every example holds one of its keywords', () => {
      expect(detector.examples.length).toBeGreaterThan(0)
      for (const example of detector.examples) {
        expect(valuesFound(detector, example), example).not.toEqual([])
        expect(detector.keywords.some((keyword) => example.toLowerCase().includes(keyword)), example).toBe(true)
      }
    })

    it('finds nothing in its negatives', () => {
      expect(detector.negatives.length).toBeGreaterThan(0)
      for (const negative of detector.negatives) expect(valuesFound(detector, negative), negative).toEqual([])
    })
  })
})

describe('the part-2 catalog as the pipeline runs it', () => {
  const scanner = new TextScanner(everyDetector, createPrefilter(everyDetector))

  it('has ids unique across all of its files', () => {
    const ids = everyDetector.map((detector) => detector.id)
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([])
  })

  it.each(everyDetector.map((detector) => [detector.id, detector] as const))('reports every example of %s under its own id', (_id, detector) => {
    for (const example of detector.examples) {
      const found = scanner.scanText(example, { sourceType: 'file_final', path: 'srv/app/settings.conf', key: '' })
      expect(found.map((match) => match.detectorId), example).toContain(detector.id)
    }
  })
})
