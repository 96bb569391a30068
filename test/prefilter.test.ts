import { describe, expect, it } from 'vitest'
import { defineDetector } from '../core/detector.ts'
import { createPrefilter } from '../core/prefilter.ts'

const detector = (id: string, keywords: string[]) =>
  defineDetector({ id, name: id, description: id, confidence: 'high', keywords, pattern: /x/, examples: [] })

const bytes = (text: string) => new TextEncoder().encode(text)

describe('the keyword prefilter', () => {
  const github = detector('github', ['ghp_', 'github_pat_'])
  const aws = detector('aws', ['akia'])
  const slack = detector('slack', ['xoxb-', 'xoxp-'])
  const prefilter = createPrefilter([github, aws, slack])

  it('selects no detector for text without keywords', () => {
    expect(prefilter.candidates(bytes('nothing to see here, just prose and code()'))).toEqual([])
  })

  it('selects exactly the detectors whose keywords occur', () => {
    expect(prefilter.candidates(bytes('token = ghp_abc and xoxp-123')).map((d) => d.id)).toEqual(['github', 'slack'])
  })

  it('matches keywords regardless of case', () => {
    expect(prefilter.candidates(bytes('AKIAIOSFODNN7EXAMPLE')).map((d) => d.id)).toEqual(['aws'])
  })

  it('finds keywords that overlap or share prefixes', () => {
    const overlapping = createPrefilter([detector('a', ['abcd']), detector('b', ['bc']), detector('c', ['cde'])])
    expect(overlapping.candidates(bytes('xxabcdexx')).map((d) => d.id)).toEqual(['a', 'b', 'c'])
  })

  it('finds a keyword at the very end of the input', () => {
    expect(prefilter.candidates(bytes('ends with github_pat_')).map((d) => d.id)).toEqual(['github'])
  })

  it('always selects detectors that declare no keywords', () => {
    const always = detector('always', [])
    expect(createPrefilter([aws, always]).candidates(bytes('plain')).map((d) => d.id)).toEqual(['always'])
  })

  it('works on strings as on bytes', () => {
    expect(prefilter.candidatesForText('export SLACK=XOXB-1').map((d) => d.id)).toEqual(['slack'])
  })
})
