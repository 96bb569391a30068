/**
 * The fixtures filter: matches in tests, examples and documentation, and values that are
 * placeholders, documented examples, integrity hashes or public material, are kept as suppressed
 * findings with the reason, not counted as actionable. What the value is decides first (it is true
 * wherever the value sits); where it sits decides next.
 */
import { z } from 'zod'
import type { Disposition, Filter, MatchContext } from '../../core/contracts.ts'
import { filterCacheKey } from './cache-key.ts'
import { documentedExampleSource } from './documented-examples.ts'
import { integrityHashReason, isLockFile } from './integrity-hashes.ts'
import { isSequential, placeholderReason } from './placeholder-values.ts'
import { isPublicMaterial } from './public-material.ts'

/** directories whose files are not shipped code: tests, fixtures, mocks, examples, docs */
const TEST_SEGMENTS = new Set([
  'test', 'tests', '__tests__', 'spec', 'specs', '__specs__', 'fixture', 'fixtures', '__fixtures__', 'testdata', 'test-data',
  'test_data', 'testfixtures', 'mock', 'mocks', '__mocks__', 'e2e', 'example', 'examples', 'sample', 'samples', 'doc', 'docs',
  'demo', 'demos',
])
/** `.env.example`, `config.sample.yml`, `settings.template.json`, `example.env` */
const TEMPLATE_FILE = /\.(?:example|sample|template|tmpl|tpl|dist)$|\.(?:example|sample|template)\.[a-z0-9]+$|^(?:example|sample|template)[._-]/i
/** `app.test.ts`, `user_spec.rb`, `store_test.go`, `test_api.py`, `.env.test` */
const TEST_FILE = /(?:^|[._-])(?:test|spec)s?\.[a-z0-9]+$|_test\.go$|^test_.*\.py$|^\.env\.test(?:ing)?$/i

const optionsSchema = z
  .object({
    /** extra path segments that mean "not shipped code" */
    extraSegments: z.array(z.string()).default([]),
    /** turn off the path rules (the value rules stay) */
    paths: z.boolean().default(true),
  })
  .strict()

const suppress = (reason: string): Disposition => ({ disposition: 'suppressed', reason })

/** What the value itself is, wherever it sits. */
const judgeValue = (match: MatchContext): Disposition | undefined => {
  if (isPublicMaterial(match.value)) return suppress('public certificate or key (not a secret)')
  const documented = documentedExampleSource(match.value.trim())
  if (documented) return suppress(`documented example value (${documented})`)
  const placeholder = placeholderReason(match.value)
  if (placeholder) return suppress(placeholder)
  const integrity = integrityHashReason(match.value, match.path, match.line)
  if (integrity) return suppress(integrity)
  return undefined
}

/**
 * Secret scanners' own rule files are full of example secrets by design: layerleak's catalog as
 * installed (`node_modules/layerleak/…`) or transpiled by jiti, and gitleaks / TruffleHog rule sets.
 */
const SCANNER_RULES = [
  /(^|\/)node_modules\/layerleak\/(dist\/)?plugins\/detectors\//,
  /(^|\/)\.cache\/jiti\/detectors-[\w-]+\.[0-9a-f]+\.m?js$/,
  /(^|\/)gitleaks(\.default)?\.toml$/,
  /(^|\/)trufflehog\/pkg\/detectors\//,
]

/** Where the value sits: a scanner's rules, a test or example directory, a template file, a test file. */
const judgePath = (path: string, segments: ReadonlySet<string>): Disposition | undefined => {
  if (SCANNER_RULES.some((pattern) => pattern.test(path))) return suppress("a secret scanner's own detector examples")
  // nested archive members (`app.jar!inner/path`) are judged by every part of their path
  const parts = path.toLowerCase().split(/[/!]/)
  const name = parts[parts.length - 1]
  const segment = parts.slice(0, -1).find((part) => segments.has(part))
  if (segment) return suppress(`test or example path (${segment}/)`)
  if (TEMPLATE_FILE.test(name)) return suppress('template or example file')
  if (TEST_FILE.test(name)) return suppress('test file')
  return undefined
}

/** everything the verdicts come from, for the cache key */
const RULES = [judgeValue, judgePath, SCANNER_RULES, TEMPLATE_FILE, TEST_FILE, isPublicMaterial, documentedExampleSource, placeholderReason, isSequential, integrityHashReason, isLockFile]

export const fixturesFilter = (options: z.input<typeof optionsSchema> = {}): Filter => {
  const settings = optionsSchema.parse(options)
  const segments = new Set([...TEST_SEGMENTS, ...settings.extraSegments.map((segment) => segment.toLowerCase())])
  return {
    name: 'fixtures',
    cacheKey: filterCacheKey('fixtures', settings, [...segments].sort(), fixturesFilter, RULES),
    classify(match: MatchContext) {
      return judgeValue(match) ?? (settings.paths && match.path ? judgePath(match.path, segments) : undefined)
    },
  }
}
