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
    expect(createPrefilter([always]).scan(bytes('x'.repeat(10_000))).map((c) => c.detector.id)).toEqual(['always'])
    expect(createPrefilter([]).scan(bytes('x'.repeat(10_000)))).toEqual([])
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

describe('lanes: a large buffer is walked in parallel lanes', () => {
  const keywords = ['ghp_', 'akia', 'password', 'pass', 'word', 'sk-', 'xoxb-', 'github_pat_', 'a']
  const detectors = keywords.map((keyword, i) => detector(`d${i}`, [keyword]))
  const prefilter = createPrefilter(detectors)

  /** every offset just past an occurrence of `keyword` (case-insensitive) */
  const endsOf = (text: string, keyword: string): number[] => {
    const lower = text.toLowerCase()
    const ends: number[] = []
    for (let at = lower.indexOf(keyword); at !== -1; at = lower.indexOf(keyword, at + 1)) ends.push(at + keyword.length)
    return ends
  }

  /** random text with keywords dropped in at random places, lanes' edges included */
  const randomText = (size: number, seed: number): string => {
    let state = seed
    const random = () => ((state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
    const alphabet = 'bcdefhijlmnqrtuvyz0123456789 \n_-=:'
    const parts: string[] = []
    let length = 0
    while (length < size) {
      const part = random() < 0.02 ? keywords[Math.floor(random() * keywords.length)].toUpperCase() : alphabet[Math.floor(random() * alphabet.length)]
      parts.push(part)
      length += part.length
    }
    return parts.join('')
  }

  it.each([4096, 5000, 65_537, 200_003])('finds every keyword occurrence of a %i-byte buffer, at lane edges too, and reports only real hits', (size) => {
    for (const seed of [1, 2, 3]) {
      const text = randomText(size, seed * size)
      const candidates = new Map(prefilter.scan(bytes(text)).map((candidate) => [candidate.detector.id, candidate]))
      keywords.forEach((keyword, i) => {
        const ends = endsOf(text, keyword)
        const candidate = candidates.get(`d${i}`)
        expect(candidate !== undefined, keyword).toBe(ends.length > 0)
        if (!candidate || candidate.runs.length === 0) return
        const runs = candidate.runs
        // every hit lies inside one of the detector's runs, and every run starts and ends on a hit
        const inRun = (end: number) => {
          for (let r = 0; r < runs.length; r += 2) if (runs[r] <= end && end <= runs[r + 1]) return true
          return false
        }
        expect(ends.filter((end) => !inRun(end)), keyword).toEqual([])
        const real = new Set(ends)
        for (const edge of runs) expect(real.has(edge), `${keyword} at ${edge}`).toBe(true)
      })
    }
  })

  it('finds a keyword that straddles the edge between two lanes exactly once', () => {
    const size = 8192
    const span = size / 4
    const text = `${'z'.repeat(span - 3)}GHP_${'z'.repeat(size - span - 1)}`
    const [candidate] = createPrefilter([detector('github', ['ghp_'])]).scan(bytes(text))
    expect(candidate.runs).toEqual([span + 1, span + 1])
  })
})

describe('keyword starts, for detectors whose matches start on a keyword', () => {
  const anchored = defineDetector({ id: 'anchored', name: 'a', description: 'a', confidence: 'low', keywords: ['pass', 'password', 'token'], startsAtKeyword: true, pattern: /x/, examples: [] })
  const plain = detector('plain', ['token'])

  it('lists where each of its keywords starts, every hit, for short and lane-walked buffers alike', () => {
    for (const pad of [0, 10_000]) {
      const text = `${'z'.repeat(pad)}PASSWORD=1 token=2 ${'y'.repeat(3000)} pass`
      const [candidate, other] = createPrefilter([anchored, plain]).scan(bytes(text))
      const at = (word: string, from = 0) => text.toLowerCase().indexOf(word, from)
      // `password` holds `pass`: both start there
      expect(candidate.starts).toEqual([pad, pad, at('token'), at('pass', pad + 20)])
      expect(other.starts).toBeUndefined()
    }
  })

  it('records nothing for detectors that do not ask', () => {
    expect(createPrefilter([plain]).scan(bytes('token token')).map((candidate) => candidate.starts)).toEqual([undefined])
  })
})
