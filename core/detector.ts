/**
 * A detector is data: id, keywords, a pattern, a validator, examples that must match and examples
 * that must not. `defineDetector` turns that data into the Detector contract; a detector that needs
 * more than a regex gives a small `detect` function instead of `pattern`.
 */
import type { Detector, DetectorMatch, ScanChunk } from './contracts.ts'
import { shannonEntropy } from './entropy.ts'
import type { Confidence } from './result.ts'

export interface DetectorSpec {
  /** stable, kebab-case */
  id: string
  name: string
  description: string
  confidence: Confidence
  /** lower-case literals, at least one of which sits in or near every true match */
  keywords: string[]
  binary?: boolean
  /** every match starts where a keyword does (see Detector.startsAtKeyword) */
  startsAtKeyword?: boolean
  /**
   * The secret is the named group `secret`, else group 1, else the whole match. Flags `g` and `d`
   * are added; do not rely on `lastIndex`.
   */
  pattern?: RegExp
  /** drop a candidate (false), keep it (true) or re-grade it (a confidence); checksums live here */
  validate?: (value: string, match: RegExpExecArray) => boolean | Confidence
  /** minimum Shannon entropy of the value, in bits per character */
  minEntropy?: number
  /** text the detector needs around its keyword hits (see Detector.context); default 1 KB before, 8 KB after */
  context?: Detector['context']
  /** for what a regex cannot say: structured formats, multi-part credentials */
  detect?: (chunk: ScanChunk) => Iterable<DetectorMatch>
  /** texts in which the detector must find something */
  examples: string[]
  /** texts in which it must find nothing */
  negatives?: string[]
}

export interface DetectorDefinition extends Detector {
  examples: string[]
  negatives: string[]
  /** what the detector matches with (pattern source, or detect's code): feeds the catalog version */
  source: string
}

const withFlags = (pattern: RegExp): RegExp => {
  let flags = pattern.flags
  if (!flags.includes('g')) flags += 'g'
  if (!flags.includes('d')) flags += 'd'
  return new RegExp(pattern.source, flags)
}

/** Every match, left to right, as matchAll would give them. */
function* matchesIn(regex: RegExp, text: string): Iterable<RegExpExecArray> {
  for (let match = regex.exec(text); match; match = regex.exec(text)) {
    // an empty match moves on one character, as matchAll does
    if (match[0].length === 0) regex.lastIndex = match.index + (regex.unicode && (text.codePointAt(match.index) ?? 0) > 0xffff ? 2 : 1)
    yield match
  }
}

/**
 * A sticky pattern tried at each keyword start past the last match: what matchAll would find when
 * every match starts on a keyword (startsAtKeyword), at an attempt per keyword instead of a pass.
 */
export function* matchesAtKeywords(regex: RegExp, text: string, starts: readonly number[]): Iterable<RegExpExecArray> {
  let after = 0
  for (const start of starts) {
    if (start < after) continue
    regex.lastIndex = start
    const match = regex.exec(text)
    after = match ? start + Math.max(1, match[0].length) : start + 1
    if (match) yield match
  }
}

/** A compiled pattern and its instances not in use: kept between calls, matchAll would clone it each time. */
interface RegexPool {
  pattern: RegExp
  free: RegExp[]
}

const regexPool = (pattern: RegExp): RegexPool => ({ pattern, free: [] })

/**
 * The pattern's matches in a chunk, as matchAll would give them, through an exec loop on a pooled
 * regex (a detector runs on thousands of small files): an instance is taken, and given back when
 * the loop ends, so calls stay re-entrant. `sticky` (flags y and d) serves startsAtKeyword
 * detectors given keyword starts; `global` (flags g and d) a pass over the text.
 */
function* matchPattern(spec: DetectorSpec, pools: { global: RegexPool; sticky?: RegexPool }, chunk: ScanChunk): Iterable<DetectorMatch> {
  const { text, keywordStarts } = chunk
  const pool = keywordStarts && pools.sticky ? pools.sticky : pools.global
  const regex = pool.free.pop() ?? new RegExp(pool.pattern)
  regex.lastIndex = 0
  try {
    for (const match of keywordStarts && pool === pools.sticky ? matchesAtKeywords(regex, text, keywordStarts) : matchesIn(regex, text)) {
      const indices = match.indices
      if (!indices) continue
      let span: [number, number] | undefined
      if (indices.groups?.secret) span = indices.groups.secret
      else if (match.length > 1 && indices[1]) span = indices[1]
      else span = indices[0]
      if (!span) continue
      const value = text.slice(span[0], span[1])
      if (!value) continue
      if (spec.minEntropy !== undefined && shannonEntropy(value) < spec.minEntropy) continue
      let confidence: Confidence | undefined
      if (spec.validate) {
        const verdict = spec.validate(value, match)
        if (verdict === false) continue
        if (verdict !== true) confidence = verdict
      }
      const key = match.groups?.key
      yield { value, start: span[0], end: span[1], ...(confidence ? { confidence } : {}), ...(key ? { key } : {}) }
    }
  } finally {
    pool.free.push(regex)
  }
}

export const defineDetector = (spec: DetectorSpec): DetectorDefinition => {
  if (!spec.pattern && !spec.detect) throw new Error(`detector ${spec.id}: needs a pattern or a detect function`)
  const pattern = spec.pattern ? withFlags(spec.pattern) : undefined
  const pools = pattern && {
    global: regexPool(pattern),
    // anchored at its keywords, the pattern is tried only where they start
    ...(spec.startsAtKeyword ? { sticky: regexPool(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}y`)) } : {}),
  }
  const keywords = spec.keywords.map((keyword) => keyword.toLowerCase())
  return {
    id: spec.id,
    name: spec.name,
    description: spec.description,
    confidence: spec.confidence,
    keywords,
    ...(spec.binary ? { binary: true } : {}),
    ...(spec.startsAtKeyword ? { startsAtKeyword: true } : {}),
    ...(spec.context ? { context: spec.context } : {}),
    examples: spec.examples,
    negatives: spec.negatives ?? [],
    source: `${pattern ? `${pattern.source}/${pattern.flags}` : ''}${spec.detect ? spec.detect.toString() : ''}${spec.validate ? spec.validate.toString() : ''}${spec.minEntropy ?? ''}${spec.startsAtKeyword ? 'startsAtKeyword' : ''}${typeof spec.context === 'function' ? spec.context.toString() : JSON.stringify(spec.context ?? '')}`,
    detect: spec.detect ?? ((chunk) => matchPattern(spec, pools as NonNullable<typeof pools>, chunk)),
  }
}
