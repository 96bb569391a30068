/**
 * The fixtures filter: matches in tests, examples and documentation, and values that are
 * placeholders or documented examples, are kept as suppressed findings with the reason, not
 * counted as actionable. Each rule is data: a name, what it looks at, and the reason it gives.
 */
import { z } from 'zod'
import type { Disposition, Filter, MatchContext } from '../../core/contracts.ts'

const TEST_SEGMENTS = new Set([
  'test', 'tests', '__tests__', 'spec', 'specs', 'fixture', 'fixtures', 'testdata', 'test-data', 'test_data',
  'mock', 'mocks', '__mocks__', 'e2e', 'example', 'examples', 'sample', 'samples', 'doc', 'docs', 'demo',
])
const TEMPLATE_SUFFIX = /\.(example|sample|template|tmpl|dist)$|\.(example|sample|template)\.[a-z0-9]+$/i
const TEST_FILE = /(^|[._-])(test|spec)s?\.[a-z0-9]+$|_test\.go$|^test_.*\.py$/i
const PLACEHOLDER = [
  /^x{4,}$/i,
  /^(.)\1{5,}$/,
  /^your[_-]?[a-z_-]*(key|token|secret|password)[a-z_-]*(here)?$/i,
  /^(change[_-]?me|changeit|placeholder|dummy|redacted|replace[_-]?me|todo|example|sample|secret|password|passw0rd)$/i,
  /^<[^>]+>$/,
  /^\$\{[^}]+\}$|^\$[A-Z_][A-Z0-9_]*$|^\{\{[^}]+\}\}$|^%\([^)]+\)s$/,
]

/** `123456789`, `abcdefgh`: a run where each character follows the one before */
const isSequentialRun = (value: string): boolean => {
  if (value.length < 6) return false
  for (let i = 1; i < value.length; i++) if (value.charCodeAt(i) !== value.charCodeAt(i - 1) + 1) return false
  return true
}

const optionsSchema = z
  .object({
    /** extra path segments that mean "not shipped code" */
    extraSegments: z.array(z.string()).default([]),
    /** turn off the path rules (values rules stay) */
    paths: z.boolean().default(true),
  })
  .strict()

const suppress = (reason: string): Disposition => ({ disposition: 'suppressed', reason })

export const fixturesFilter = (options: z.input<typeof optionsSchema> = {}): Filter => {
  const settings = optionsSchema.parse(options)
  const segments = new Set([...TEST_SEGMENTS, ...settings.extraSegments.map((segment) => segment.toLowerCase())])
  return {
    name: 'fixtures',
    classify(match: MatchContext) {
      const value = match.value.trim()
      if (PLACEHOLDER.some((pattern) => pattern.test(value)) || isSequentialRun(value)) return suppress('placeholder value')
      if (/EXAMPLE$/.test(value) && match.detectorId.startsWith('aws')) return suppress('documented example value (AWS)')
      if (!settings.paths || !match.path) return undefined
      // nested archive members (`app.jar!inner/path`) are judged by every part of their path
      const parts = match.path.toLowerCase().split(/[/!]/)
      const name = parts[parts.length - 1]
      const segment = parts.slice(0, -1).find((part) => segments.has(part))
      if (segment) return suppress(`test or example path (${segment}/)`)
      if (TEMPLATE_SUFFIX.test(name)) return suppress('template or example file')
      if (TEST_FILE.test(name)) return suppress('test file')
      return undefined
    },
  }
}
