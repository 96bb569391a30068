import { describe, expect, it } from 'vitest'
import { defineDetector } from '../core/detector.ts'
import { createPrefilter } from '../core/prefilter.ts'

const detector = (id: string, keywords: string[]) =>
  defineDetector({ id, name: id, description: id, confidence: 'high', keywords, pattern: /x/, examples: [] })

const bytes = (text: string) => new TextEncoder().encode(text)

describe('the keyword prefilter', () => {
  const github = detector('github', ['ghp_', 'github_pat_'])
  const aws = detector('aws', ['akia'])
  const slack = detector('slack', ['xoxb-', 'xoxp-'])
  const prefilter = createPrefilter([github, aws, slack])

  it('selects no detector for text without keywords', () => {
    expect(prefilter.scan(bytes('nothing to see here, just prose and code()'))).toEqual([])
  })

  it('selects exactly the detectors whose keywords occur', () => {
    expect(prefilter.scan(bytes('token = ghp_abc and xoxp-123')).map((c) => c.detector.id)).toEqual(['github', 'slack'])
  })

  it('matches keywords regardless of case', () => {
    expect(prefilter.scan(bytes('AKIAIOSFODNN7EXAMPLE')).map((c) => c.detector.id)).toEqual(['aws'])
  })

  it('finds keywords that overlap or share prefixes', () => {
    const overlapping = createPrefilter([detector('a', ['abcd']), detector('b', ['bc']), detector('c', ['cde'])])
    expect(overlapping.scan(bytes('xxabcdexx')).map((c) => c.detector.id)).toEqual(['a', 'b', 'c'])
  })

  it('finds a keyword at the very end of the input', () => {
    expect(prefilter.scan(bytes('ends with github_pat_')).map((c) => c.detector.id)).toEqual(['github'])
  })

  it('always selects detectors that declare no keywords', () => {
    const always = detector('always', [])
    expect(createPrefilter([aws, always]).scan(bytes('plain')).map((c) => c.detector.id)).toEqual(['always'])
  })

  it('works on strings as on bytes', () => {
    expect(prefilter.scanText('export SLACK=XOXB-1').map((c) => c.detector.id)).toEqual(['slack'])
  })
})

describe('keyword windows', () => {
  const ghp = defineDetector({ id: 'ghp', name: 'ghp', description: '', confidence: 'high', keywords: ['ghp_'], pattern: /ghp_[a-z]{4}/, examples: [] })
  const prefilter = createPrefilter([ghp])

  it('records where keywords end, joining nearby hits into one run', () => {
    const [candidate] = prefilter.scan(bytes(`xx ghp_ yy GHP_${' '.repeat(5000)}ghp_`))
    expect(candidate.runs).toEqual([7, 15, 5019, 5019])
  })

  it('gives a detector line-aligned windows around its hits, not the whole text', async () => {
    const { windowsFor } = await import('../core/text-scanner.ts')
    const filler = `${'a'.repeat(99)}\n`.repeat(200)
    const text = `${filler}key=ghp_abcd\n${filler}`
    const [candidate] = prefilter.scanText(text)
    const [[from, to]] = windowsFor(candidate, text)
    expect(text[from - 1]).toBe('\n')
    expect(text.slice(from, to)).toContain('key=ghp_abcd')
    expect(to - from).toBeLessThan(text.length / 2)
  })

  it('keeps windows small on a minified one-line file, cutting at a token boundary', async () => {
    const { windowsFor } = await import('../core/text-scanner.ts')
    const text = `${'var a=1;'.repeat(100_000)}key="ghp_abcd";${'var b=2;'.repeat(100_000)}`
    const [candidate] = prefilter.scanText(text)
    const [[from, to]] = windowsFor(candidate, text)
    expect(to - from).toBeLessThan(12_000)
    expect(text.slice(from, to)).toContain('ghp_abcd')
    expect(text[from - 1]).toMatch(/[^A-Za-z0-9_+/=.-]/)
  })

  it('hands the whole text to detectors that ask for it', async () => {
    const { windowsFor } = await import('../core/text-scanner.ts')
    const whole = createPrefilter([{ ...ghp, context: 'file' as const }])
    const text = `${'b'.repeat(20_000)} ghp_abcd`
    expect(windowsFor(whole.scanText(text)[0], text)).toEqual([[0, text.length]])
  })
})
