/**
 * The keyword prefilter: one pass over the bytes decides which detectors run, and where. Detector
 * keywords are compiled into a case-insensitive Aho-Corasick automaton with a full transition
 * table; accepting states are stored negated, so the hot loop is one table lookup and one sign
 * test per byte, and text without keywords costs exactly one pass.
 */
import type { Detector } from './contracts.ts'

/** A detector chosen by the prefilter, with where its keywords occur. */
export interface Candidate {
  detector: Detector
  /**
   * Runs of keyword hits as flat pairs [first, last, first, last...]: offsets just past the first
   * and last keyword of a run whose hits lie within RUN_GAP of each other, ascending. Empty for
   * detectors without keywords or with too many runs: they get the whole text.
   */
  runs: number[]
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

/**
 * Hits of one keyword closer than this join a run, so a keyword that occurs on every line costs a
 * handful of runs, not one entry per occurrence. Smaller than any detector's window, so a run's
 * window is exactly the union of its hits' windows.
 */
const RUN_GAP = 1024
/** Above this many runs a detector simply gets the whole text: windows would cover it anyway. */
const MAX_RUNS_PER_DETECTOR = 1024

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

  // per accepting state, the run being extended: its index in `runs`, or -1
  const openRun = new Int32Array(stateCount).fill(-1)

  /** runs: flat triples of (accepting state, first end offset, last end offset) */
  const collect = (runs: number[]): Candidate[] => {
    const perDetector = new Map<number, number[]>()
    for (const i of always) perDetector.set(i, [])
    for (let r = 0; r < runs.length; r += 3) {
      openRun[runs[r]] = -1
      for (const i of detectorsOfState[runs[r]]) {
        let list = perDetector.get(i)
        if (!list) perDetector.set(i, (list = []))
        if (list.length <= MAX_RUNS_PER_DETECTOR * 2) list.push(runs[r + 1], runs[r + 2])
      }
    }
    return [...perDetector.keys()]
      .sort((a, b) => a - b)
      .map((i) => {
        const list = perDetector.get(i) as number[]
        // runs of different keywords interleave: order them; too many means "the whole text"
        return { detector: detectors[i], runs: list.length > MAX_RUNS_PER_DETECTOR * 2 ? [] : sortRuns(list), longestKeyword: longest[i] }
      })
  }

  /** records a hit of `state` ending at `end`: extends the state's open run or starts one */
  const record = (runs: number[], state: number, end: number) => {
    const open = openRun[state]
    if (open >= 0 && end - runs[open + 2] <= RUN_GAP) runs[open + 2] = end
    else {
      openRun[state] = runs.length
      runs.push(state, end, end)
    }
  }

  return {
    scan(bytes) {
      const runs: number[] = []
      let state = 0
      const length = bytes.length
      for (let i = 0; i < length; i++) {
        let next = delta[(state << 8) | bytes[i]]
        if (next < 0) {
          next = ~next
          record(runs, next, i + 1)
        }
        state = next
      }
      return runs.length === 0 && always.length === 0 ? [] : collect(runs)
    },
    scanText(text) {
      const runs: number[] = []
      let state = 0
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i)
        let next = delta[(state << 8) | (code < 256 ? code : 0)]
        if (next < 0) {
          next = ~next
          record(runs, next, i + 1)
        }
        state = next
      }
      return runs.length === 0 && always.length === 0 ? [] : collect(runs)
    },
  }
}

/** Sorts flat [first, last] pairs by `first`, keeping pairs together. */
const sortRuns = (runs: number[]): number[] => {
  if (runs.length <= 2) return runs
  let sorted = true
  for (let i = 2; i < runs.length; i += 2) if (runs[i] < runs[i - 2]) sorted = false
  if (sorted) return runs
  const pairs: [number, number][] = []
  for (let i = 0; i < runs.length; i += 2) pairs.push([runs[i], runs[i + 1]])
  return pairs.sort((a, b) => a[0] - b[0]).flat()
}
