import { describe, expect, it } from 'vitest'
import type { ScanChunk } from '../core/contracts.ts'
import { defineDetector } from '../core/detector.ts'

const chunk = (text: string): ScanChunk => ({ text, sourceType: 'file_final', path: 'a.txt', key: '', binary: false })
const values = (iterable: Iterable<{ value: string }>) => [...iterable].map((match) => match.value)

describe('a pattern detector', () => {
  const token = defineDetector({ id: 'demo', name: 'demo', description: 'demo', confidence: 'high', keywords: ['tok_'], pattern: /tok_(?<secret>[a-z0-9]{6})/, examples: [] })

  it('finds every match of its pattern, in order', () => {
    expect(values(token.detect(chunk('a tok_abc123 b tok_zzz999 tok_short')))).toEqual(['abc123', 'zzz999'])
  })

  it('gives the same matches when called again inside one of its own iterations', () => {
    const inner: string[][] = []
    const outer: string[] = []
    for (const match of token.detect(chunk('tok_aaaaaa tok_bbbbbb'))) {
      outer.push(match.value)
      inner.push(values(token.detect(chunk('tok_cccccc x tok_dddddd'))))
    }
    expect(outer).toEqual(['aaaaaa', 'bbbbbb'])
    expect(inner).toEqual([
      ['cccccc', 'dddddd'],
      ['cccccc', 'dddddd'],
    ])
  })

  it('starts afresh after an iteration that was left half-way', () => {
    for (const _ of token.detect(chunk('tok_aaaaaa tok_bbbbbb'))) break
    expect(values(token.detect(chunk('tok_cccccc')))).toEqual(['cccccc'])
  })

  it('moves past empty matches instead of looping on them', () => {
    const optional = defineDetector({ id: 'opt', name: 'opt', description: 'opt', confidence: 'low', keywords: [], pattern: /(?<secret>x*)/, examples: [] })
    expect(values(optional.detect(chunk('ab xx c x')))).toEqual(['xx', 'x'])
  })
})

describe('a pattern detector anchored at its keywords (startsAtKeyword)', () => {
  const anchored = defineDetector({
    id: 'anchored',
    name: 'anchored',
    description: 'key = value',
    confidence: 'low',
    keywords: ['secret'],
    startsAtKeyword: true,
    pattern: /secret[ \t]*=[ \t]*(?<secret>[A-Za-z0-9]{8,})/i,
    examples: [],
  })
  const text = 'a SECRET = Abcd1234xyz\nthe secret word\nsecret=Zq8rT2mK9vLw\n'

  it('finds through the prefilter, trying only its keyword starts, what a pass over the text finds', async () => {
    const { TextScanner } = await import('../core/text-scanner.ts')
    const { createPrefilter } = await import('../core/prefilter.ts')
    const whole = values(anchored.detect(chunk(text)))
    const viaStarts = new TextScanner([anchored], createPrefilter([anchored])).scanText(text, { sourceType: 'file_final', path: 'a.txt', key: '' })
    expect(whole).toEqual(['Abcd1234xyz', 'Zq8rT2mK9vLw'])
    expect(viaStarts.map((match) => match.value)).toEqual(whole)
  })

  it('tries nothing but the starts it is given', () => {
    const at = text.lastIndexOf('secret=')
    expect(values(anchored.detect({ ...chunk(text), keywordStarts: [at] }))).toEqual(['Zq8rT2mK9vLw'])
  })
})
