/**
 * The keyword prefilter: one pass over the bytes decides which detectors run, and where. Detector
 * keywords are compiled into a case-insensitive Aho-Corasick automaton with a full transition
 * table over byte classes (the ~55 distinct keyword bytes, case folded, and "anything else"), so
 * the table stays in cache. Accepting states are stored negated and pre-multiplied by the class
 * count: the hot loop is two table lookups and one sign test per byte, and text without keywords
 * costs exactly one pass.
 *
 * One automaton walk is bound by the latency of its table lookups (each step waits for the last),
 * not by the CPU's throughput, so a large buffer is walked as LANES independent lanes in one loop:
 * the CPU overlaps their lookups, and a pass runs ~3x faster than one lane would.
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
  /**
   * For a detector with `startsAtKeyword`: where each of its keywords starts, ascending (a start
   * may repeat). Absent when there were more than MAX_KEYWORD_STARTS hits in the text.
   */
  starts?: number[]
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
/** keyword starts recorded per scan for `startsAtKeyword` detectors; beyond, they get the whole text */
const MAX_KEYWORD_STARTS = 1 << 20
/** lanes walked at once (walkLanes is written out for four) */
const LANES = 4
/** below this, one lane: the lanes' set-up and overlaps cost more than they save */
const LANE_THRESHOLD = 4096

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
  const keywordBytes = keywords.map((keyword) => encoder.encode(keyword))
  const longest = detectors.map((detector) => Math.max(0, ...detector.keywords.map((keyword) => encoder.encode(keyword).length)))
  const always = detectors.map((detector, i) => (detector.keywords.length === 0 ? i : -1)).filter((i) => i >= 0)

  // trie over lower-cased keyword bytes
  const goto: Map<number, number>[] = [new Map()]
  const outputs: number[][] = [[]]
  keywordBytes.forEach((bytes, k) => {
    let state = 0
    for (const byte of bytes) {
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

  // byte classes: one per byte some keyword holds (upper case shares its lower-case class), 0 for the rest
  const classOf = new Uint8Array(256)
  let classCount = 1
  for (let b = 0; b < 256; b++) {
    if (goto.some((edges) => edges.has(b))) classOf[b] = classCount++
  }
  for (let b = 65; b <= 90; b++) classOf[b] = classOf[b + 32]

  // breadth-first: failure links folded into a full transition table over classes
  const stateCount = goto.length
  const delta = new Int32Array(stateCount * classCount)
  const fail = new Int32Array(stateCount)
  const queue: number[] = []
  const edgesByClass = (state: number): Map<number, number> => new Map([...goto[state]].map(([b, next]) => [classOf[b], next]))
  for (const [c, next] of edgesByClass(0)) {
    delta[c] = next
    queue.push(next)
  }
  for (let head = 0; head < queue.length; head++) {
    const state = queue[head]
    for (const k of outputs[fail[state]]) if (!outputs[state].includes(k)) outputs[state].push(k)
    const edges = edgesByClass(state)
    for (let c = 0; c < classCount; c++) {
      const next = edges.get(c)
      if (next !== undefined) {
        fail[next] = delta[fail[state] * classCount + c]
        delta[state * classCount + c] = next
        queue.push(next)
      } else {
        delta[state * classCount + c] = delta[fail[state] * classCount + c]
      }
    }
  }
  // targets pre-multiplied by the class count (a state is its row's offset), accepting ones stored as ~offset
  for (let i = 0; i < delta.length; i++) delta[i] = outputs[delta[i]].length > 0 ? ~(delta[i] * classCount) : delta[i] * classCount
  // state -> detectors it makes candidates
  const detectorsOfState: number[][] = outputs.map((ks) => [...new Set(ks.flatMap((k) => keywordIndex.get(keywords[k]) ?? []))])
  // state -> [detector, keyword length] of the startsAtKeyword detectors it makes candidates
  const startsOfState: number[][] = outputs.map((ks) =>
    ks.flatMap((k) => (keywordIndex.get(keywords[k]) ?? []).filter((i) => detectors[i].startsAtKeyword).flatMap((i) => [i, keywordBytes[k].length])),
  )
  const wantsStarts = new Uint8Array(stateCount)
  startsOfState.forEach((list, state) => {
    wantsStarts[state] = list.length > 0 ? 1 : 0
  })
  // a keyword ending at `end` starts at or after end - longestOverall: where a lane must start to see it whole
  const overlap = Math.max(0, ...keywordBytes.map((bytes) => bytes.length)) - 1

  // per lane and accepting state, the run being extended: its index in the lane's runs, or -1
  const openRun = Array.from({ length: LANES }, () => new Int32Array(stateCount).fill(-1))

  /** hits of the states that startsAtKeyword detectors need, as pairs (state offset, end) per lane */
  const exact: number[][] = Array.from({ length: LANES }, () => [])
  let exactCount = 0

  /** runs of each lane: flat triples of (accepting state offset, first end offset, last end offset) */
  const collect = (lanes: number[][]): Candidate[] => {
    const perDetector = new Map<number, number[]>()
    const starts = new Map<number, number[]>()
    for (const i of always) perDetector.set(i, [])
    const complete = exactCount <= MAX_KEYWORD_STARTS
    for (const hits of exact) {
      for (let h = 0; complete && h < hits.length; h += 2) {
        const list = startsOfState[hits[h] / classCount]
        for (let j = 0; j < list.length; j += 2) {
          let found = starts.get(list[j])
          if (!found) starts.set(list[j], (found = []))
          found.push(hits[h + 1] - list[j + 1])
        }
      }
      hits.length = 0
    }
    exactCount = 0
    lanes.forEach((runs, lane) => {
      for (let r = 0; r < runs.length; r += 3) {
        const state = runs[r] / classCount
        openRun[lane][state] = -1
        for (const i of detectorsOfState[state]) {
          let list = perDetector.get(i)
          if (!list) perDetector.set(i, (list = []))
          if (list.length <= MAX_RUNS_PER_DETECTOR * 2) list.push(runs[r + 1], runs[r + 2])
        }
      }
    })
    return [...perDetector.keys()]
      .sort((a, b) => a - b)
      .map((i) => {
        const list = perDetector.get(i) as number[]
        // runs of different keywords interleave: order them; too many means "the whole text"
        const candidate: Candidate = { detector: detectors[i], runs: list.length > MAX_RUNS_PER_DETECTOR * 2 ? [] : sortRuns(list), longestKeyword: longest[i] }
        if (complete && detectors[i].startsAtKeyword) candidate.starts = (starts.get(i) ?? []).sort((a, b) => a - b)
        return candidate
      })
  }

  /** records a hit of the state at `offset` ending at `end`: extends the state's open run or starts one */
  const record = (runs: number[], open: Int32Array, offset: number, end: number, lane: number) => {
    const state = offset / classCount
    if (wantsStarts[state] === 1 && ++exactCount <= MAX_KEYWORD_STARTS) exact[lane].push(offset, end)
    const at = open[state]
    if (at >= 0 && end - runs[at + 2] <= RUN_GAP) runs[at + 2] = end
    else {
      open[state] = runs.length
      runs.push(offset, end, end)
    }
  }

  /** One lane over all the bytes. */
  const walk = (bytes: Uint8Array, runs: number[], open: Int32Array) => {
    let state = 0
    for (let i = 0; i < bytes.length; i++) {
      let next = delta[state + classOf[bytes[i]]]
      if (next < 0) {
        next = ~next
        record(runs, open, next, i + 1, 0)
      }
      state = next
    }
  }

  /**
   * LANES lanes of `span` bytes in one loop. Lane k owns the hits ending in (k*span, (k+1)*span]
   * and starts `overlap` bytes early in the start state, so it sees whole every keyword that ends
   * in its part; the last lane then finishes the remainder alone.
   */
  const walkLanes = (bytes: Uint8Array, lanes: number[][]) => {
    const span = Math.floor(bytes.length / LANES)
    const [r0, r1, r2, r3] = lanes
    const [o0, o1, o2, o3] = openRun
    // lane k > 0 reads bytes[b_k + i] for i in [0, span + overlap); lane 0 reads as far, keeping hits up to span
    let s0 = 0
    let s1 = 0
    let s2 = 0
    let s3 = 0
    const b1 = span - overlap
    const b2 = 2 * span - overlap
    const b3 = 3 * span - overlap
    const steps = span + overlap
    for (let i = 0; i < steps; i++) {
      let n1 = delta[s1 + classOf[bytes[b1 + i]]]
      let n2 = delta[s2 + classOf[bytes[b2 + i]]]
      let n3 = delta[s3 + classOf[bytes[b3 + i]]]
      let n0 = delta[s0 + classOf[bytes[i]]]
      if ((n0 | n1 | n2 | n3) < 0) {
        if (n0 < 0) {
          n0 = ~n0
          if (i < span) record(r0, o0, n0, i + 1, 0)
        }
        if (n1 < 0) {
          n1 = ~n1
          if (i >= overlap) record(r1, o1, n1, b1 + i + 1, 1)
        }
        if (n2 < 0) {
          n2 = ~n2
          if (i >= overlap) record(r2, o2, n2, b2 + i + 1, 2)
        }
        if (n3 < 0) {
          n3 = ~n3
          if (i >= overlap) record(r3, o3, n3, b3 + i + 1, 3)
        }
      }
      s0 = n0
      s1 = n1
      s2 = n2
      s3 = n3
    }
    // the last lane goes on alone to the end, in the state it reached
    let state = s3
    for (let i = 4 * span; i < bytes.length; i++) {
      let next = delta[state + classOf[bytes[i]]]
      if (next < 0) {
        next = ~next
        record(r3, o3, next, i + 1, 3)
      }
      state = next
    }
  }

  return {
    scan(bytes) {
      const lanes: number[][] = [[], [], [], []]
      // no keyword to look for (only always-run detectors, or none): nothing to walk
      if (keywords.length === 0) return always.length === 0 ? [] : collect(lanes)
      if (bytes.length < LANE_THRESHOLD) walk(bytes, lanes[0], openRun[0])
      else walkLanes(bytes, lanes)
      return lanes.every((runs) => runs.length === 0) && always.length === 0 ? [] : collect(lanes)
    },
    scanText(text) {
      const runs: number[] = []
      const open = openRun[0]
      let state = 0
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i)
        let next = delta[state + (code < 256 ? classOf[code] : 0)]
        if (next < 0) {
          next = ~next
          record(runs, open, next, i + 1, 0)
        }
        state = next
      }
      return runs.length === 0 && always.length === 0 ? [] : collect([runs])
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
