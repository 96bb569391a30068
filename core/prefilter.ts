/**
 * The keyword prefilter: one pass over the bytes decides which detectors run, and where. Detector
 * keywords are compiled into a case-insensitive Aho-Corasick automaton with a full transition
 * table; accepting states are stored negated, so the hot loop is one table lookup and one sign
 * test per byte, and text without keywords costs exactly one pass.
 */
import type { Detector } from './contracts.ts'

/** A detector chosen by the prefilter, with the end offsets of its keyword hits (empty: always-run). */
export interface Candidate {
  detector: Detector
  /** offsets just past each keyword occurrence, ascending; empty for detectors without keywords */
  hits: number[]
  /** the longest keyword of the detector, to place windows before a hit */
  longestKeyword: number
}

export interface Prefilter {
  /** detectors whose keywords occur in `bytes` (always-run detectors included), in catalog order */
  scan(bytes: Uint8Array): Candidate[]
  /** the same for a string (config values): only ASCII case folding */
  scanText(text: string): Candidate[]
}

const lowerByte = (byte: number): number => (byte >= 65 && byte <= 90 ? byte + 32 : byte)

/** Above this many hits a detector simply gets the whole text: windows would cover it anyway. */
const MAX_HITS_PER_DETECTOR = 4096

export const createPrefilter = (detectors: readonly Detector[]): Prefilter => {
  const encoder = new TextEncoder()
  // keyword -> detector indices, deduplicated
  const keywordIndex = new Map<string, number[]>()
  detectors.forEach((detector, i) => {
    for (const keyword of detector.keywords) {
      const key = keyword.toLowerCase()
      if (!key) continue
      const list = keywordIndex.get(key) ?? []
      list.push(i)
      keywordIndex.set(key, list)
    }
  })
  const keywords = [...keywordIndex.keys()]
  const longest = detectors.map((detector) => Math.max(0, ...detector.keywords.map((keyword) => encoder.encode(keyword).length)))
  const always = detectors.map((detector, i) => (detector.keywords.length === 0 ? i : -1)).filter((i) => i >= 0)

  // trie over lower-cased keyword bytes
  const goto: Map<number, number>[] = [new Map()]
  const outputs: number[][] = [[]]
  keywords.forEach((keyword, k) => {
    let state = 0
    for (const byte of encoder.encode(keyword)) {
      const b = lowerByte(byte)
      let next = goto[state].get(b)
      if (next === undefined) {
        next = goto.length
        goto.push(new Map())
        outputs.push([])
        goto[state].set(b, next)
      }
      state = next
    }
    outputs[state].push(k)
  })

  // breadth-first: failure links folded into a full transition table
  const stateCount = goto.length
  const delta = new Int32Array(stateCount * 256)
  const fail = new Int32Array(stateCount)
  const queue: number[] = []
  for (let b = 0; b < 256; b++) {
    const next = goto[0].get(b)
    if (next !== undefined) {
      delta[b] = next
      queue.push(next)
    }
  }
  for (let head = 0; head < queue.length; head++) {
    const state = queue[head]
    for (const k of outputs[fail[state]]) if (!outputs[state].includes(k)) outputs[state].push(k)
    for (let b = 0; b < 256; b++) {
      const next = goto[state].get(b)
      if (next !== undefined) {
        fail[next] = delta[fail[state] * 256 + b]
        delta[state * 256 + b] = next
        queue.push(next)
      } else {
        delta[state * 256 + b] = delta[fail[state] * 256 + b]
      }
    }
  }
  // upper-case ASCII letters follow their lower-case transitions; accepting targets are stored as ~state
  for (let state = 0; state < stateCount; state++) {
    for (let b = 65; b <= 90; b++) delta[state * 256 + b] = delta[state * 256 + b + 32]
  }
  for (let i = 0; i < delta.length; i++) if (outputs[delta[i]].length > 0) delta[i] = ~delta[i]
  // state -> detectors it makes candidates
  const detectorsOfState: number[][] = outputs.map((ks) => [...new Set(ks.flatMap((k) => keywordIndex.get(keywords[k]) ?? []))])

  /** hits: flat pairs of (accepting state, offset just past the keyword) */
  const collect = (hits: number[]): Candidate[] => {
    const perDetector = new Map<number, number[]>()
    for (const i of always) perDetector.set(i, [])
    for (let h = 0; h < hits.length; h += 2) {
      for (const i of detectorsOfState[hits[h]]) {
        let list = perDetector.get(i)
        if (!list) perDetector.set(i, (list = []))
        if (list.length <= MAX_HITS_PER_DETECTOR && list[list.length - 1] !== hits[h + 1]) list.push(hits[h + 1])
      }
    }
    return [...perDetector.keys()]
      .sort((a, b) => a - b)
      .map((i) => {
        const list = perDetector.get(i) as number[]
        // too many hits: an empty list means "the whole text", as for always-run detectors
        return { detector: detectors[i], hits: list.length > MAX_HITS_PER_DETECTOR ? [] : list, longestKeyword: longest[i] }
      })
  }

  return {
    scan(bytes) {
      const hits: number[] = []
      let state = 0
      const length = bytes.length
      for (let i = 0; i < length; i++) {
        let next = delta[(state << 8) | bytes[i]]
        if (next < 0) {
          next = ~next
          hits.push(next, i + 1)
        }
        state = next
      }
      return hits.length === 0 && always.length === 0 ? [] : collect(hits)
    },
    scanText(text) {
      const hits: number[] = []
      let state = 0
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i)
        let next = delta[(state << 8) | (code < 256 ? code : 0)]
        if (next < 0) {
          next = ~next
          hits.push(next, i + 1)
        }
        state = next
      }
      return hits.length === 0 && always.length === 0 ? [] : collect(hits)
    },
  }
}
