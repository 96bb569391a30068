import { describe, expect, it } from 'vitest'
import { shannonEntropy } from '../core/entropy.ts'

/** the definition, written out plainly */
const reference = (value: string): number => {
  const counts = new Map<string, number>()
  for (const char of value) counts.set(char, (counts.get(char) ?? 0) + 1)
  let entropy = 0
  for (const count of counts.values()) entropy -= (count / value.length) * Math.log2(count / value.length)
  return entropy
}

describe('shannon entropy', () => {
  it('is 0 for nothing and for one repeated character, 1 bit for two, 2 for four', () => {
    expect([shannonEntropy(''), shannonEntropy('aaaa'), shannonEntropy('abab'), shannonEntropy('abcd')]).toEqual([0, 0, 1, 2])
  })

  it('agrees with the definition on random values, Latin-1 or not, in any order of calls', () => {
    const alphabets = ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'abc', 'äöüßé€😀日本x']
    for (let i = 0; i < 300; i++) {
      const alphabet = [...alphabets[i % alphabets.length]]
      const value = Array.from({ length: 1 + (i % 60) }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('')
      expect(shannonEntropy(value), value).toBeCloseTo(reference(value), 10)
    }
  })
})
