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
