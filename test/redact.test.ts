import { describe, expect, it } from 'vitest'
import { fingerprintOf, redactValue, snippetAround } from '../core/redact.ts'

describe('redaction', () => {
  it('masks short values completely', () => {
    expect(redactValue('hunter2')).toBe('********')
  })

  it('keeps at most a three-character prefix of longer values', () => {
    expect(redactValue('ghp_0123456789abcdefghijklmnopqrstuvwxyz')).toBe('ghp********')
  })

  it('does not reveal the length of a value', () => {
    expect(redactValue('a'.repeat(20)).length).toBe(redactValue('a'.repeat(200)).length)
  })

  it('replaces the secret in a context snippet and trims long lines', () => {
    const line = `${'x'.repeat(200)} TOKEN=supersecretvalue123 ${'y'.repeat(200)}`
    const start = line.indexOf('supersecret')
    const snippet = snippetAround(line, start, start + 'supersecretvalue123'.length, redactValue('supersecretvalue123'))
    expect(snippet).toContain('TOKEN=sup********')
    expect(snippet).not.toContain('supersecretvalue123')
    expect(snippet.length).toBeLessThan(200)
  })
})

describe('fingerprints', () => {
  it('are the sha256 of the raw value by default', () => {
    expect(fingerprintOf('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })

  it('are an HMAC when a key is set', () => {
    expect(fingerprintOf('abc', 'k')).not.toBe(fingerprintOf('abc'))
    expect(fingerprintOf('abc', 'k')).toBe(fingerprintOf('abc', 'k'))
  })
})
