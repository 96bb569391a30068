/**
 * Runs detectors over one run of bytes or text: the prefilter picks the detectors, binary content
 * is left to binary-safe detectors, UTF-16 is transcoded, overlapping matches keep the most
 * specific detector, and each match gets its line, line number and offsets.
 */
import { Buffer } from 'node:buffer'
import type { Detector, ScanChunk } from './contracts.ts'
import type { Prefilter } from './prefilter.ts'
import type { Confidence, SourceType } from './result.ts'

export interface TextLocation {
  sourceType: SourceType
  path: string
  key: string
}

export interface RawMatch {
  detectorId: string
  confidence: Confidence
  value: string
  key: string
  /** 1-based */
  lineNumber: number
  /** offsets from the start of the file (bytes) or value (characters) */
  start: number
  end: number
  /** the line the match starts on, raw */
  line: string
  /** the match's offsets inside `line` */
  lineStart: number
  lineEnd: number
}

const CONFIDENCE_RANK: Record<Confidence, number> = { low: 0, medium: 1, high: 2 }
const BINARY_SNIFF_BYTES = 8000

/** NUL bytes in the first 8 KB mean binary, as git and grep decide it. */
export const looksBinary = (bytes: Uint8Array): boolean => {
  const end = Math.min(bytes.length, BINARY_SNIFF_BYTES)
  for (let i = 0; i < end; i++) if (bytes[i] === 0) return true
  return false
}

const utf16Encoding = (bytes: Uint8Array): 'utf-16le' | 'utf-16be' | undefined => {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return 'utf-16le'
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) return 'utf-16be'
  return undefined
}

/** Generic rules lose overlaps to any specific one; then higher confidence wins; then the longer match. */
const specificity = (detectorId: string, confidence: Confidence): number =>
  (detectorId.startsWith('generic') ? 0 : 10) + CONFIDENCE_RANK[confidence]

export class TextScanner {
  readonly #detectors: readonly Detector[]
  readonly #prefilter: Prefilter

  constructor(detectors: readonly Detector[], prefilter: Prefilter) {
    this.#detectors = detectors
    this.#prefilter = prefilter
  }

  /**
   * Scans bytes of a file. `baseOffset` and `baseLine` place a window of a large file inside it;
   * matches ending at or before `skipBefore` (an overlap already scanned) are dropped.
   */
  scanBytes(bytes: Uint8Array, location: TextLocation, window = { baseOffset: 0, baseLine: 1, skipBefore: 0 }): RawMatch[] {
    const utf16 = utf16Encoding(bytes)
    if (utf16) {
      const text = new TextDecoder(utf16).decode(bytes)
      return this.scanText(text, location)
    }
    const candidates = this.#prefilter.candidates(bytes)
    if (candidates.length === 0) return []
    const binary = looksBinary(bytes)
    const detectors = binary ? candidates.filter((detector) => detector.binary) : candidates
    if (detectors.length === 0) return []
    // latin1 maps each byte to one char, so string offsets are byte offsets
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
    const matches = this.#run(detectors, { text, binary, ...location }, window)
    for (const match of matches) {
      // values are reported as UTF-8, whatever the latin1 view made of them
      if (/[\u0080-\u00ff]/.test(match.value)) {
        match.value = Buffer.from(bytes.subarray(match.start - window.baseOffset, match.end - window.baseOffset)).toString('utf8')
      }
    }
    return matches
  }

  /** Scans a string (config values, transcoded text). */
  scanText(text: string, location: TextLocation): RawMatch[] {
    const candidates = this.#prefilter.candidatesForText(text)
    if (candidates.length === 0) return []
    return this.#run(candidates, { text, binary: false, ...location }, { baseOffset: 0, baseLine: 1, skipBefore: 0 })
  }

  #run(detectors: readonly Detector[], chunk: ScanChunk, window: { baseOffset: number; baseLine: number; skipBefore: number }): RawMatch[] {
    const found: { detector: Detector; start: number; end: number; value: string; confidence: Confidence; key: string }[] = []
    for (const detector of detectors) {
      for (const match of detector.detect(chunk)) {
        if (match.end + window.baseOffset <= window.skipBefore) continue
        found.push({
          detector,
          start: match.start,
          end: match.end,
          value: match.value,
          confidence: match.confidence ?? detector.confidence,
          key: match.key ?? chunk.key,
        })
      }
    }
    if (found.length === 0) return []
    // one secret is one finding: where spans overlap, the most specific detector keeps it
    found.sort(
      (a, b) =>
        specificity(b.detector.id, b.confidence) - specificity(a.detector.id, a.confidence) ||
        b.end - b.start - (a.end - a.start) ||
        a.start - b.start,
    )
    const kept: typeof found = []
    for (const candidate of found) {
      if (kept.some((other) => candidate.start < other.end && other.start < candidate.end)) continue
      kept.push(candidate)
    }
    kept.sort((a, b) => a.start - b.start)

    const { text } = chunk
    const results: RawMatch[] = []
    let line = window.baseLine
    let cursor = 0
    for (const match of kept) {
      for (let at = text.indexOf('\n', cursor); at !== -1 && at < match.start; at = text.indexOf('\n', at + 1)) {
        line++
        cursor = at + 1
      }
      const lineStart = text.lastIndexOf('\n', match.start - 1) + 1
      let lineEnd = text.indexOf('\n', match.start)
      if (lineEnd === -1) lineEnd = text.length
      results.push({
        detectorId: match.detector.id,
        confidence: match.confidence,
        value: match.value,
        key: match.key,
        lineNumber: line,
        start: match.start + window.baseOffset,
        end: match.end + window.baseOffset,
        line: text.slice(lineStart, lineEnd).replace(/\r$/, ''),
        lineStart: match.start - lineStart,
        lineEnd: Math.min(match.end, lineEnd) - lineStart,
      })
    }
    return results
  }
}
