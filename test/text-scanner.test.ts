import { describe, expect, it } from 'vitest'
import { defineDetector } from '../core/detector.ts'
import { createPrefilter } from '../core/prefilter.ts'
import { TextScanner } from '../core/text-scanner.ts'

const token = defineDetector({
  id: 'demo-token',
  name: 'Demo token',
  description: 'demo_ + 20 alphanumerics',
  confidence: 'high',
  keywords: ['demo_'],
  binary: true,
  pattern: /\b(demo_[A-Za-z0-9]{20})\b/,
  examples: [],
})
const generic = defineDetector({
  id: 'generic-secret',
  name: 'Generic',
  description: 'key = value',
  confidence: 'low',
  keywords: ['secret'],
  pattern: /secret\s*=\s*(\S{8,})/,
  examples: [],
})
const scanner = new TextScanner([token, generic], createPrefilter([token, generic]))
const at = { sourceType: 'file_final' as const, path: 'app/.env', key: '' }
const bytes = (text: string) => new TextEncoder().encode(text)

describe('the text scanner', () => {
  it('reports the line number, line and offsets of a match', () => {
    const [match] = scanner.scanBytes(bytes('first\nsecond\nTOKEN=demo_AbCdEfGhIjKlMnOpQrSt\n'), at)
    expect(match).toMatchObject({ detectorId: 'demo-token', lineNumber: 3, line: 'TOKEN=demo_AbCdEfGhIjKlMnOpQrSt', start: 19, end: 44, lineStart: 6 })
  })

  it('keeps the specific detector when a generic rule matches the same secret', () => {
    const matches = scanner.scanBytes(bytes('secret = demo_AbCdEfGhIjKlMnOpQrSt'), at)
    expect(matches.map((match) => match.detectorId)).toEqual(['demo-token'])
  })

  it('only runs binary-safe detectors on binary content', () => {
    const binary = bytes('\u0000\u0001ELF secret = hunter2hunter2 demo_AbCdEfGhIjKlMnOpQrSt')
    expect(scanner.scanBytes(binary, at).map((match) => match.detectorId)).toEqual(['demo-token'])
  })

  it('transcodes UTF-16 text before scanning it', () => {
    const text = 'x=demo_AbCdEfGhIjKlMnOpQrSt'
    const utf16 = new Uint8Array(2 + text.length * 2)
    utf16.set([0xff, 0xfe])
    for (let i = 0; i < text.length; i++) utf16[2 + i * 2] = text.charCodeAt(i)
    expect(scanner.scanBytes(utf16, at).map((match) => match.value)).toEqual(['demo_AbCdEfGhIjKlMnOpQrSt'])
  })

  it('reports non-ASCII values as UTF-8', () => {
    const [match] = scanner.scanBytes(bytes('secret = pässwörd-ünïcode'), at)
    expect(match.value).toBe('pässwörd-ünïcode')
  })

  it('places window matches at their offset and line inside the whole file', () => {
    const [match] = scanner.scanBytes(bytes('a\ndemo_AbCdEfGhIjKlMnOpQrSt'), at, { baseOffset: 1000, baseLine: 40, skipBefore: 0 })
    expect(match).toMatchObject({ lineNumber: 41, start: 1002, end: 1027 })
  })

  it('drops matches that lie wholly inside an overlap already scanned', () => {
    const text = bytes('demo_AbCdEfGhIjKlMnOpQrSt')
    expect(scanner.scanBytes(text, at, { baseOffset: 100, baseLine: 1, skipBefore: 125 })).toEqual([])
    expect(scanner.scanBytes(text, at, { baseOffset: 100, baseLine: 1, skipBefore: 124 })).toHaveLength(1)
  })
})
