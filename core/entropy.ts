/** counts per character code for the common case (Latin-1), reused: entropy runs for every candidate value */
const counts = new Int32Array(256)
const seen = new Uint8Array(256)

/** Shannon entropy in bits per character: random base64 is near 6, English text near 4. */
export const shannonEntropy = (value: string): number => {
  if (value.length === 0) return 0
  const distinct: number[] = []
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if (code > 255) {
      for (const touched of distinct) {
        counts[touched] = 0
        seen[touched] = 0
      }
      return entropyOfCodePoints(value)
    }
    if (seen[code] === 0) {
      seen[code] = 1
      distinct.push(code)
    }
    counts[code]++
  }
  let entropy = 0
  for (const code of distinct) {
    const p = counts[code] / value.length
    entropy -= p * Math.log2(p)
    counts[code] = 0
    seen[code] = 0
  }
  return entropy
}

/** Any text: counted by code point, the slow way. */
const entropyOfCodePoints = (value: string): number => {
  const byChar = new Map<string, number>()
  for (const char of value) byChar.set(char, (byChar.get(char) ?? 0) + 1)
  let entropy = 0
  for (const count of byChar.values()) {
    const p = count / value.length
    entropy -= p * Math.log2(p)
  }
  return entropy
}
