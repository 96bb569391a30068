/**
 * gitleaks rule files (`.gitleaks.toml`) loaded as detectors, so teams keep the rules they already
 * wrote. Supported, with gitleaks' semantics: `[[rules]]` with id, description, regex, secretGroup
 * (else the first non-empty group, else the whole match), keywords, entropy (the secret's must be
 * higher), path (a regex the file path must match); rule allowlists (`[[rules.allowlists]]` and
 * the older `[rules.allowlist]`) and global ones (`[allowlist]`, `[[allowlists]]` with
 * targetRules) with paths, regexes (regexTarget secret | match | line), stopwords and
 * condition OR | AND; the `gitleaks:allow` comment on a line. `[extend] useDefault` is accepted
 * (layerleak's own catalog plays the default's part). Regexes are Go RE2 and are translated
 * (go-regexp.ts); a rule that cannot be loaded is named, with the reason, in one error for the file.
 */
import { readFile } from 'node:fs/promises'
import { parse as parseToml } from 'smol-toml'
import { z } from 'zod'
import type { DetectorMatch, ScanChunk } from '../../core/contracts.ts'
import { type DetectorDefinition, defineDetector } from '../../core/detector.ts'
import { shannonEntropy } from '../../core/entropy.ts'
import { LayerleakError } from '../../core/errors.ts'
import type { Confidence } from '../../core/result.ts'
import { translateGoRegExp } from './go-regexp.ts'

/** viper reads gitleaks files with case-insensitive keys: `secretGroup`, `secretgroup`, `StopWords`… */
const lowerKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(lowerKeys)
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key.toLowerCase(), lowerKeys(inner)]))
  }
  return value
}

const strings = z.array(z.string()).optional()
const allowlistSchema = z
  .object({
    description: z.string().optional(),
    condition: z.string().optional(),
    commits: strings,
    paths: strings,
    regextarget: z.string().optional(),
    regexes: strings,
    stopwords: strings,
    targetrules: strings,
  })
  .passthrough()
const ruleSchema = z
  .object({
    id: z.string().optional(),
    description: z.string().optional(),
    regex: z.string().optional(),
    path: z.string().optional(),
    secretgroup: z.number().int().nonnegative().optional(),
    entropy: z.number().nonnegative().optional(),
    keywords: strings,
    tags: strings,
    allowlist: allowlistSchema.optional(),
    allowlists: z.array(allowlistSchema).optional(),
    required: z.array(z.unknown()).optional(),
    skipreport: z.boolean().optional(),
  })
  .passthrough()
const fileSchema = z
  .object({
    title: z.string().optional(),
    extend: z.object({ usedefault: z.boolean().optional(), path: z.string().optional(), disabledrules: strings }).passthrough().optional(),
    rules: z.array(ruleSchema).default([]),
    allowlist: allowlistSchema.optional(),
    allowlists: z.array(allowlistSchema).optional(),
  })
  .passthrough()

type RawAllowlist = z.output<typeof allowlistSchema>

interface Candidate {
  path: string
  secret: string
  match: string
  line: string
}

interface CompiledAllowlist {
  and: boolean
  hasCommits: boolean
  paths: RegExp[]
  regexes: RegExp[]
  target: 'secret' | 'match' | 'line'
  stopwords: string[]
  targetRules?: Set<string>
}

const compile = (pattern: string, what: string): RegExp => {
  const { source, flags } = translateGoRegExp(pattern)
  try {
    return new RegExp(source, flags)
  } catch (error) {
    throw new Error(`${what} /${pattern}/ does not compile as JavaScript: ${(error as Error).message}`)
  }
}

const compileAllowlist = (raw: RawAllowlist, where: string): CompiledAllowlist => {
  const condition = (raw.condition ?? 'OR').toUpperCase()
  if (condition !== 'OR' && condition !== 'AND') throw new Error(`${where}: condition must be OR or AND (got "${raw.condition}")`)
  const target = (raw.regextarget ?? 'secret').toLowerCase()
  if (target !== 'secret' && target !== 'match' && target !== 'line') throw new Error(`${where}: regexTarget must be secret, match or line (got "${raw.regextarget}")`)
  return {
    and: condition === 'AND',
    hasCommits: (raw.commits ?? []).length > 0,
    paths: (raw.paths ?? []).map((pattern) => compile(pattern, `${where} path`)),
    regexes: (raw.regexes ?? []).map((pattern) => compile(pattern, `${where} regex`)),
    target,
    stopwords: (raw.stopwords ?? []).map((word) => word.toLowerCase()),
    ...(raw.targetrules ? { targetRules: new Set(raw.targetrules) } : {}),
  }
}

/** gitleaks' allowlist check. Commits cannot match (an image has none), so a commit-only list never applies. */
const allows = (list: CompiledAllowlist, candidate: Candidate): boolean => {
  const checks: boolean[] = []
  if (list.hasCommits) checks.push(false)
  if (list.paths.length > 0) checks.push(candidate.path !== '' && list.paths.some((pattern) => pattern.test(candidate.path)))
  if (list.regexes.length > 0) {
    const target = candidate[list.target]
    checks.push(target !== '' && list.regexes.some((pattern) => pattern.test(target)))
  }
  if (list.stopwords.length > 0) {
    const secret = candidate.secret.toLowerCase()
    checks.push(list.stopwords.some((word) => secret.includes(word)))
  }
  return list.and ? checks.length > 0 && checks.every(Boolean) : checks.some(Boolean)
}

const lineAround = (text: string, start: number, end: number): string => {
  const from = text.lastIndexOf('\n', start - 1) + 1
  const to = text.indexOf('\n', end)
  return text.slice(from, to === -1 ? text.length : to)
}

/** `AWS Access Token` -> `aws-access-token`: ids become kebab-case detector ids */
const detectorIdOf = (id: string): string =>
  id
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')

const groupCount = (regex: RegExp): number => (new RegExp(`${regex.source}|`, regex.flags).exec('')?.length ?? 1) - 1

export interface GitleaksLoadOptions {
  /** the file's name, for messages */
  source?: string
  /** confidence of the loaded rules (gitleaks has none): medium */
  confidence?: Confidence
}

/** Parses a gitleaks TOML document into detectors, or throws one error naming every rule that cannot load. */
export const parseGitleaksRules = (text: string, options: GitleaksLoadOptions = {}): DetectorDefinition[] => {
  const source = options.source ?? 'gitleaks rules'
  let document: unknown
  try {
    document = lowerKeys(parseToml(text))
  } catch (cause) {
    throw new LayerleakError('INVALID_CONFIG', `${source}: not valid TOML: ${(cause as Error).message}`, { cause })
  }
  const parsed = fileSchema.safeParse(document)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new LayerleakError('INVALID_CONFIG', `${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`)
  }
  const file = parsed.data
  const problems: string[] = []
  if (file.extend?.path) problems.push('[extend] path: extending another file is not supported; list each file in gitleaksRules instead')

  let globals: CompiledAllowlist[] = []
  try {
    globals = [...(file.allowlist ? [file.allowlist] : []), ...(file.allowlists ?? [])].map((raw, i) => compileAllowlist(raw, `global allowlist ${i + 1}`))
  } catch (error) {
    problems.push((error as Error).message)
  }

  const detectors: DetectorDefinition[] = []
  const seen = new Set<string>()
  file.rules.forEach((rule, index) => {
    const name = rule.id ?? rule.description ?? `#${index + 1}`
    const problem = (message: string) => problems.push(`rule "${name}": ${message}`)
    const id = detectorIdOf(rule.id ?? rule.description ?? '')
    if (!id) return problem('has no id')
    if (seen.has(id)) return problem(`duplicate id "${id}"`)
    seen.add(id)
    if (rule.required?.length || rule.skipreport) return problem('composite rules ([[rules.required]], skipReport) are not supported')
    if (!rule.regex) return problem(rule.path ? 'path-only rules (no regex) report files, not secrets, and are not supported' : 'has no regex')
    let regex: RegExp
    let pathPattern: RegExp | undefined
    let own: CompiledAllowlist[]
    try {
      regex = compile(rule.regex, 'regex')
      pathPattern = rule.path ? compile(rule.path, 'path') : undefined
      own = [...(rule.allowlist ? [rule.allowlist] : []), ...(rule.allowlists ?? [])].map((raw, i) => compileAllowlist(raw, `allowlist ${i + 1}`))
    } catch (error) {
      return problem((error as Error).message)
    }
    const groups = groupCount(regex)
    const secretGroup = rule.secretgroup ?? 0
    if (secretGroup > groups) return problem(`secretGroup is ${secretGroup} but the regex has ${groups} group(s)`)
    const entropy = rule.entropy ?? 0
    const generic = id.startsWith('generic')
    const applicable = [...own, ...globals.filter((list) => !list.targetRules || list.targetRules.has(rule.id ?? ''))]

    function* detect(chunk: ScanChunk): Iterable<DetectorMatch> {
      if (pathPattern && !(chunk.path && pathPattern.test(chunk.path))) return
      for (const match of chunk.text.matchAll(new RegExp(regex.source, `${regex.flags}gd`))) {
        if (!match[0]) continue
        let group = 0
        if (match.length > 1) group = secretGroup > 0 ? secretGroup : match.findIndex((value, i) => i > 0 && value) // first non-empty group
        if (group < 0) group = 0
        const span = match.indices?.[group]
        const secret = match[group]
        if (!span || !secret) continue
        if (entropy > 0 && (shannonEntropy(secret) <= entropy || (generic && !/\d/.test(secret)))) continue
        const line = lineAround(chunk.text, match.index, match.index + match[0].length)
        if (line.includes('gitleaks:allow')) continue
        const candidate = { path: chunk.path, secret, match: match[0], line }
        if (applicable.some((list) => allows(list, candidate))) continue
        yield { value: secret, start: span[0], end: span[1] }
      }
    }

    const detector = defineDetector({
      id,
      name: rule.id ?? id,
      description: rule.description ?? `gitleaks rule ${name}`,
      confidence: options.confidence ?? 'medium',
      keywords: (rule.keywords ?? []).map((keyword) => keyword.toLowerCase()),
      detect,
      examples: [],
    })
    // the catalog version must change when the rule (or a global allowlist) does, not only this loader
    detectors.push({ ...detector, source: `gitleaks:${JSON.stringify([rule, file.allowlist ?? null, file.allowlists ?? null])}` })
  })

  if (problems.length > 0) {
    throw new LayerleakError('INVALID_CONFIG', `${source}: ${problems.length} rule(s) cannot be loaded:\n  - ${problems.join('\n  - ')}`, {
      details: { problems },
    })
  }
  return detectors
}

/** Reads a gitleaks TOML file and loads its rules as detectors. */
export const loadGitleaksRuleFile = async (path: string, options: Omit<GitleaksLoadOptions, 'source'> = {}): Promise<DetectorDefinition[]> => {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new LayerleakError('INVALID_CONFIG', `gitleaks rules ${path} cannot be read: ${(cause as Error).message}`, { cause })
  }
  return parseGitleaksRules(text, { ...options, source: path })
}
