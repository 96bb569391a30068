/**
 * The keyword prefilter: one pass over the bytes decides which detectors run. Detector keywords
 * are compiled into a case-insensitive Aho-Corasick automaton with a full transition table, so
 * the hot loop is one table lookup per byte and text without keywords costs exactly one pass.
 */
import type { Detector } from './contracts.ts'

export interface Prefilter {
  /** detectors whose keywords occur in `bytes` (always-run detectors included), in catalog order */
  candidates(bytes: Uint8Array): Detector[]
  /** the same for a string (config values): only ASCII case folding */
  candidatesForText(text: string): Detector[]
}

const lowerByte = (byte: number): number => (byte >= 65 && byte <= 90 ? byte + 32 : byte)

export const createPrefilter = (detectors: readonly Detector[]): Prefilter => {
  const encoder = new TextEncoder()
  const always = detectors.filter((detector) => detector.keywords.length === 0)
  // keyword -> detectors, deduplicated
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
      fail[next] = 0
      queue.push(next)
    }
  }
  for (let head = 0; head < queue.length; head++) {
    const state = queue[head]
    outputs[state].push(...outputs[fail[state]].filter((k) => !outputs[state].includes(k)))
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
  // upper-case ASCII letters follow their lower-case transitions
  for (let state = 0; state < stateCount; state++) {
    for (let b = 65; b <= 90; b++) delta[state * 256 + b] = delta[state * 256 + b + 32]
  }
  const accepting = new Uint8Array(stateCount)
  for (let state = 0; state < stateCount; state++) if (outputs[state].length > 0) accepting[state] = 1

  const collect = (hitStates: Set<number>): Detector[] => {
    if (hitStates.size === 0) return always
    const chosen = new Uint8Array(detectors.length)
    for (const detector of always) chosen[detectors.indexOf(detector)] = 1
    for (const state of hitStates) {
      for (const k of outputs[state]) for (const i of keywordIndex.get(keywords[k]) ?? []) chosen[i] = 1
    }
    return detectors.filter((_, i) => chosen[i] === 1)
  }

  return {
    candidates(bytes) {
      const hits = new Set<number>()
      let state = 0
      const length = bytes.length
      for (let i = 0; i < length; i++) {
        state = delta[(state << 8) | bytes[i]]
        if (accepting[state] === 1) hits.add(state)
      }
      return collect(hits)
    },
    candidatesForText(text) {
      const hits = new Set<number>()
      let state = 0
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i)
        state = delta[(state << 8) | (code < 256 ? code : 0)]
        if (accepting[state] === 1) hits.add(state)
      }
      return collect(hits)
    },
  }
}
