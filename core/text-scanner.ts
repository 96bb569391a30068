/**
 * Runs detectors over one run of bytes or text: the prefilter picks the detectors, binary content
 * is left to binary-safe detectors, UTF-16 is transcoded, overlapping matches keep the most
 * specific detector, and each match gets its line, line number and offsets. Base64 runs in text
 * that decode to text are scanned once more (core/encoded-content.ts); what they hide is reported
 * at the run's place, with the decoded value.
 */
import { Buffer } from 'node:buffer'
import type { Detector, DetectorContext, ScanChunk } from './contracts.ts'
import { type EncodedBlob, findEncodedBlobs, findEncodedBlobsInText } from './encoded-content.ts'
import { type Candidate, createPrefilter, type Prefilter } from './prefilter.ts'
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
/** Windows of large files overlap by this much, so a secret across a window edge is still seen whole. */
export const WINDOW_OVERLAP = 16 * 1024
const BINARY_SNIFF_BYTES = 8000

/** NUL bytes in the first 8 KB mean binary, as git and grep decide it. */
export const looksBinary = (bytes: Uint8Array): boolean => bytes.subarray(0, BINARY_SNIFF_BYTES).indexOf(0) !== -1

const utf16Encoding = (bytes: Uint8Array): 'utf-16le' | 'utf-16be' | undefined => {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return 'utf-16le'
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) return 'utf-16be'
  return undefined
}

/** The text a detector gets around each keyword hit unless it asks for more (Detector.context). */
export const KEYWORD_WINDOW_CONTEXT: DetectorContext = { before: 1024, after: 8192 }

/**
 * How far a window edge may move to reach a line break. Minified bundles have lines of megabytes:
 * there the edge settles on a character no token contains, so look-behinds still see a boundary.
 */
const EDGE_REACH = 512
const isTokenChar = (code: number): boolean =>
  (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95 || code === 45 || code === 43 || code === 47 || code === 61 || code === 46

/** The nearest line start within EDGE_REACH before `at`, else the nearest token boundary, else EDGE_REACH back. */
const edgeBefore = (text: string, at: number): number => {
  let boundary = -1
  for (let i = at; i > 0 && i > at - EDGE_REACH; i--) {
    const code = text.charCodeAt(i - 1)
    if (code === 10) return i
    if (boundary === -1 && !isTokenChar(code)) boundary = i
  }
  if (at - EDGE_REACH <= 0) return 0
  return boundary !== -1 ? boundary : at - EDGE_REACH
}

/** The nearest line end within EDGE_REACH after `at`, else the nearest token boundary, else EDGE_REACH on. */
const edgeAfter = (text: string, at: number): number => {
  let boundary = -1
  for (let i = at; i < text.length && i < at + EDGE_REACH; i++) {
    const code = text.charCodeAt(i)
    if (code === 10) return i
    if (boundary === -1 && !isTokenChar(code)) boundary = i
  }
  if (at + EDGE_REACH >= text.length) return text.length
  return boundary !== -1 ? boundary : at + EDGE_REACH
}

/**
 * Line-aligned spans of `text` around a candidate's keyword hits, merged where they overlap; the
 * whole text when the detector asks for it or has no keywords.
 */
export const windowsFor = (candidate: Candidate, text: string, path = ''): [number, number][] => {
  const wanted = candidate.detector.context ?? KEYWORD_WINDOW_CONTEXT
  const context = typeof wanted === 'function' ? wanted(path) : wanted
  if (context === 'file' || candidate.runs.length === 0) return [[0, text.length]]
  const windows: [number, number][] = []
  for (let r = 0; r < candidate.runs.length; r += 2) {
    const from = Math.max(0, candidate.runs[r] - candidate.longestKeyword - context.before)
    const to = Math.min(text.length, candidate.runs[r + 1] + context.after)
    const last = windows[windows.length - 1]
    if (last && from <= last[1]) last[1] = Math.max(last[1], to)
    else windows.push([from, to])
  }
  // widen to whole lines, so anchors and look-behinds see what they would in the file
  for (const window of windows) {
    window[0] = edgeBefore(text, window[0])
    window[1] = edgeAfter(text, window[1])
  }
  // widening can make neighbours touch again
  const merged: [number, number][] = []
  for (const window of windows) {
    const last = merged[merged.length - 1]
    if (last && window[0] <= last[1]) last[1] = Math.max(last[1], window[1])
    else merged.push(window)
  }
  // windows over most of the text: one pass over all of it costs less than a slice and a regex each
  let covered = 0
  for (const [from, to] of merged) covered += to - from
  return covered * 2 >= text.length ? [[0, text.length]] : merged
}

/**
 * Generic rules lose overlaps to any specific one, and specific ones to file-format detectors (a
 * parser that knows the file is a kubeconfig or a .netrc, marked `fileFormat: true`); then higher
 * confidence wins; then the longer match.
 */
const isGeneric = (detectorId: string): boolean => detectorId.startsWith('generic')

const specificity = (detector: Detector, confidence: Confidence): number =>
  (isGeneric(detector.id) ? 0 : detector.fileFormat === true ? 20 : 10) + CONFIDENCE_RANK[confidence]

/**
 * Where spans of a text sit, by line: offsets must be asked for in ascending order, so a file's
 * lines are counted once however many matches it has.
 */
const lineLocator = (text: string, firstLine: number) => {
  let line = firstLine
  let cursor = 0
  return (start: number, end: number) => {
    for (let at = text.indexOf('\n', cursor); at !== -1 && at < start; at = text.indexOf('\n', at + 1)) {
      line++
      cursor = at + 1
    }
    const lineStart = text.lastIndexOf('\n', start - 1) + 1
    let lineEnd = text.indexOf('\n', start)
    if (lineEnd === -1) lineEnd = text.length
    return {
      lineNumber: line,
      lineStartOffset: lineStart,
      line: text.slice(lineStart, lineEnd).replace(/\r$/, ''),
      lineStart: start - lineStart,
      lineEnd: Math.min(end, lineEnd) - lineStart,
    }
  }
}

/**
 * Line breaks before an offset, counted lazily: offsets asked for ascend, so the bytes are counted
 * once at most, and only as far as a match needs (large files rarely hold one).
 */
const lineCounter = (bytes: Uint8Array): ((offset: number) => number) => {
  let counted = 0
  let breaks = 0
  return (offset) => {
    for (let at = bytes.indexOf(10, counted); at !== -1 && at < offset; at = bytes.indexOf(10, at + 1)) breaks++
    counted = Math.max(counted, offset)
    return breaks
  }
}

/** Where a window of a large file sits in it: its offset and first line; matches ending at or before skipBefore were already reported. */
type ScanWindow = { baseOffset: number; baseLine: number; skipBefore: number }

/** `GITHUB_TOKEN: `, `"auth": "`, `export X=`: the key a base64 value is assigned to, from the text before it on its line */
const KEY_BEFORE_VALUE = /([A-Za-z_][A-Za-z0-9_.-]*)["']?[ \t]*(?:=|:|=>)[ \t]*["']?$/

export class TextScanner {
  readonly #detectors: readonly Detector[]
  readonly #prefilter: Prefilter
  /** the binary-safe detectors' own automaton: binaries are most of an image's bytes, and few keywords make a small table */
  #binaryPrefilter: Prefilter | undefined

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
    const binary = looksBinary(bytes)
    const candidates = binary ? (this.#binaryPrefilter ??= createPrefilter(this.#detectors.filter((detector) => detector.binary))).scan(bytes) : this.#prefilter.scan(bytes)
    // latin1 maps each byte to one char, so string offsets are byte offsets
    let text: string | undefined
    const latin1 = () => (text ??= Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1'))
    const matches = candidates.length === 0 ? [] : this.#run(candidates, { text: latin1(), binary, ...location }, window)
    for (const match of matches) {
      // values are reported as UTF-8, whatever the latin1 view made of them
      if (/[\u0080-\u00ff]/.test(match.value)) {
        match.value = Buffer.from(bytes.subarray(match.start - window.baseOffset, match.end - window.baseOffset)).toString('utf8')
      }
    }
    if (binary) return matches
    const blobs = findEncodedBlobs(bytes, (start, end) => this.#alreadyFound(matches, start + window.baseOffset, end + window.baseOffset, window))
    return blobs.length === 0 ? matches : this.#withEncoded(matches, blobs, latin1(), location, window)
  }

  /**
   * Scans a whole file held in memory: at once when it fits in `windowSize`, else in windows of
   * that size overlapping by WINDOW_OVERLAP, each placed in the file by offset and line.
   */
  scanInWindows(bytes: Uint8Array, location: TextLocation, windowSize: number): RawMatch[] {
    const size = Math.max(windowSize, WINDOW_OVERLAP * 2)
    if (bytes.length <= size) return this.scanBytes(bytes, location)
    const found: RawMatch[] = []
    const lines = lineCounter(bytes)
    let baseOffset = 0
    let skipBefore = 0
    for (;;) {
      const end = Math.min(bytes.length, baseOffset + size)
      const matches = this.scanBytes(bytes.subarray(baseOffset, end), location, { baseOffset, baseLine: 1, skipBefore })
      // line numbers counted from the window's start; the lines before it are counted only when it found something
      const before = matches.length > 0 ? lines(baseOffset) : 0
      for (const match of matches) {
        match.lineNumber += before
        found.push(match)
      }
      if (end === bytes.length) return found
      baseOffset = end - WINDOW_OVERLAP
      skipBefore = end
    }
  }

  /** Scans a string (config values, transcoded text). */
  scanText(text: string, location: TextLocation): RawMatch[] {
    const window = { baseOffset: 0, baseLine: 1, skipBefore: 0 }
    const candidates = this.#prefilter.scanText(text)
    const matches = candidates.length === 0 ? [] : this.#run(candidates, { text, binary: false, ...location }, window)
    const blobs = findEncodedBlobsInText(text, (start, end) => this.#alreadyFound(matches, start, end, window))
    return blobs.length === 0 ? matches : this.#withEncoded(matches, blobs, text, location, window)
  }

  /**
   * A run a specific detector matched as it stands, or one a previous window already scanned. A
   * generic match (`token: <base64>`) does not count: what the run decodes to may say more.
   */
  #alreadyFound(matches: readonly RawMatch[], start: number, end: number, window: ScanWindow): boolean {
    return end <= window.skipBefore || matches.some((match) => match.start < end && start < match.end && !isGeneric(match.detectorId))
  }

  /**
   * Scans what base64 runs decode to (never decoding again) and reports each secret at its run:
   * the run's line and offsets, the decoded value (so it fingerprints as the secret itself), and
   * the key the run was assigned to when the decoded text names none. What a run decodes to
   * replaces a generic match on the run itself: one secret, one finding.
   */
  #withEncoded(matches: RawMatch[], blobs: EncodedBlob[], text: string, location: TextLocation, window: ScanWindow): RawMatch[] {
    const decodedAt = { sourceType: location.sourceType, path: location.path, key: '' }
    const origin = { baseOffset: 0, baseLine: 1, skipBefore: 0 }
    let all = [...matches]
    const locate = lineLocator(text, window.baseLine)
    for (const blob of blobs) {
      const candidates = this.#prefilter.scanText(blob.decoded)
      if (candidates.length === 0) continue
      const inner = this.#run(candidates, { text: blob.decoded, binary: false, ...decodedAt }, origin)
      if (inner.length === 0) continue
      const { lineStartOffset, ...at } = locate(blob.start, blob.end)
      const outerKey = KEY_BEFORE_VALUE.exec(text.slice(Math.max(lineStartOffset, blob.start - 200), blob.start))?.[1] ?? location.key
      const [from, to] = [blob.start + window.baseOffset, blob.end + window.baseOffset]
      all = all.filter((match) => !(match.start < to && from < match.end && isGeneric(match.detectorId)))
      for (const match of inner) {
        all.push({
          detectorId: match.detectorId,
          confidence: match.confidence,
          value: match.value,
          key: match.key || outerKey,
          start: blob.start + window.baseOffset,
          end: blob.end + window.baseOffset,
          ...at,
        })
      }
    }
    return all.sort((a, b) => a.start - b.start)
  }

  #run(candidates: readonly Candidate[], chunk: ScanChunk, window: ScanWindow): RawMatch[] {
    const found: { detector: Detector; start: number; end: number; value: string; confidence: Confidence; key: string }[] = []
    for (const candidate of candidates) {
      const { detector } = candidate
      // a detector anchored at its keywords tries them all in the whole text; the rest read windows
      const parts: [ScanChunk, number][] = candidate.starts
        ? [[{ ...chunk, keywordStarts: candidate.starts }, 0]]
        : windowsFor(candidate, chunk.text, chunk.path).map(([from, to]) => [from === 0 && to === chunk.text.length ? chunk : { ...chunk, text: chunk.text.slice(from, to) }, from])
      for (const [part, from] of parts) {
        for (const match of detector.detect(part)) {
          if (match.end + from + window.baseOffset <= window.skipBefore) continue
          found.push({
            detector,
            start: match.start + from,
            end: match.end + from,
            value: match.value,
            confidence: match.confidence ?? detector.confidence,
            key: match.key ?? chunk.key,
          })
        }
      }
    }
    if (found.length === 0) return []
    // one secret is one finding: where spans overlap, the most specific detector keeps it
    found.sort(
      (a, b) =>
        specificity(b.detector, b.confidence) - specificity(a.detector, a.confidence) ||
        b.end - b.start - (a.end - a.start) ||
        a.start - b.start,
    )
    const kept: typeof found = []
    for (const candidate of found) {
      const overlapped = kept.find((other) => candidate.start < other.end && other.start < candidate.end)
      if (!overlapped) {
        kept.push(candidate)
        continue
      }
      // a parser found the value, a format detector knows what it is: same value, the better name
      if (overlapped.detector.fileFormat && !candidate.detector.fileFormat && !isGeneric(candidate.detector.id) && candidate.value === overlapped.value) {
        overlapped.detector = candidate.detector
        // either may know a reason to doubt it (a failed checksum, a canary profile): the lower grade stands
        if (CONFIDENCE_RANK[candidate.confidence] < CONFIDENCE_RANK[overlapped.confidence]) overlapped.confidence = candidate.confidence
      }
    }
    kept.sort((a, b) => a.start - b.start)

    const { text } = chunk
    const results: RawMatch[] = []
    const locate = lineLocator(text, window.baseLine)
    for (const match of kept) {
      const { lineStartOffset: _, ...at } = locate(match.start, match.end)
      results.push({
        detectorId: match.detector.id,
        confidence: match.confidence,
        value: match.value,
        key: match.key,
        start: match.start + window.baseOffset,
        end: match.end + window.baseOffset,
        ...at,
      })
    }
    return results
  }
}
