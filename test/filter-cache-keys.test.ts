/**
 * The built-in filters' cache keys (Filter.cacheKey): the same options give the same key, built
 * anew or in another order; any option that could change a verdict gives another; nothing secret
 * shows in a key. Layers remembered with their matches are reused only under equal keys.
 */
import { describe, expect, it } from 'vitest'
import { fakeGitHubToken } from '../cli/demo-image.ts'
import { loadDetection } from '../cli/detection-setup.ts'
import { allowlistFilter } from '../plugins/filters/allowlist.ts'
import { type Baseline, baselineFilter } from '../plugins/filters/baseline.ts'
import { canaryFilter } from '../plugins/filters/canary.ts'
import { fixturesFilter } from '../plugins/filters/fixtures.ts'

const baseline = (...fingerprints: string[]): Baseline => ({
  version: 1,
  created_at: '2024-01-01T00:00:00Z',
  fingerprints: fingerprints.map((fingerprint) => ({ fingerprint, detector_name: 'github-personal-access-token' })),
})
const fingerprint = (n: number) => String(n).padStart(64, '0')

describe('built-in filter cache keys', () => {
  it('every filter the CLI builds has one', async () => {
    const { filters } = await loadDetection({ config: { allowlist: { paths: ['vendor/**'] } } })
    expect(filters.map((filter) => filter.name).sort()).toEqual(['allowlist', 'canary', 'fixtures'])
    for (const filter of filters) expect(filter.cacheKey, filter.name).toMatch(new RegExp(`^${filter.name}:[0-9a-f]{64}$`))
  })

  it('the same options give the same key: regular expressions by source and flags, object keys in any order', () => {
    const first = allowlistFilter({ paths: ['vendor/**', /\.pem$/i], values: [/^sk_test_/], detectors: ['generic-*'], fingerprints: [fingerprint(1)] })
    const again = allowlistFilter({ fingerprints: [fingerprint(1)], detectors: ['generic-*'], values: [/^sk_test_/], paths: ['vendor/**', /\.pem$/i] })
    expect(again.cacheKey).toBe(first.cacheKey)
    expect(fixturesFilter({ extraSegments: ['qa'] }).cacheKey).toBe(fixturesFilter({ extraSegments: ['qa'] }).cacheKey)
    expect(canaryFilter().cacheKey).toBe(canaryFilter().cacheKey)
    expect(baselineFilter({ baseline: baseline(fingerprint(1), fingerprint(2)) }).cacheKey).toBe(baselineFilter({ baseline: baseline(fingerprint(2), fingerprint(1)) }).cacheKey)
  })

  it.each([
    ['a path', { paths: ['vendor/**'] }, { paths: ['vendor/**', 'docs/**'] }],
    ["a regular expression's flags", { paths: [/\.pem$/] }, { paths: [/\.pem$/i] }],
    ['a value', { values: ['one'] }, { values: ['two'] }],
    ['a detector', { detectors: ['generic-*'] }, { detectors: ['aws-*'] }],
    ['a fingerprint', { fingerprints: [fingerprint(1)] }, { fingerprints: [fingerprint(2)] }],
    ['the fingerprint key', { fingerprints: [fingerprint(1)], fingerprintKey: 'one' }, { fingerprints: [fingerprint(1)], fingerprintKey: 'two' }],
  ])('another allowlist (%s) gives another key', (_, one, other) => {
    expect(allowlistFilter(one).cacheKey).not.toBe(allowlistFilter(other).cacheKey)
  })

  it('other fixtures options, another baseline or fingerprint key give another key', () => {
    expect(fixturesFilter({ extraSegments: ['qa'] }).cacheKey).not.toBe(fixturesFilter().cacheKey)
    expect(fixturesFilter({ paths: false }).cacheKey).not.toBe(fixturesFilter().cacheKey)
    expect(baselineFilter({ baseline: baseline(fingerprint(1)) }).cacheKey).not.toBe(baselineFilter({ baseline: baseline(fingerprint(2)) }).cacheKey)
    expect(baselineFilter({ baseline: baseline(fingerprint(1)), fingerprintKey: 'one' }).cacheKey).not.toBe(baselineFilter({ baseline: baseline(fingerprint(1)), fingerprintKey: 'two' }).cacheKey)
  })

  it('shows neither an allowlisted value nor the fingerprint key', () => {
    const token = fakeGitHubToken()
    const { cacheKey } = allowlistFilter({ values: [token], fingerprintKey: 'the-fingerprint-key' })
    expect(cacheKey).not.toContain(token)
    expect(cacheKey).not.toContain('the-fingerprint-key')
    expect(baselineFilter({ baseline: baseline(fingerprint(1)), fingerprintKey: 'the-fingerprint-key' }).cacheKey).not.toContain('the-fingerprint-key')
  })
})
