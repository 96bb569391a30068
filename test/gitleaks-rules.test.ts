/**
 * gitleaks rule files as detectors: Go RE2 translated to JavaScript (or refused, naming the rule
 * and the construct), and gitleaks' semantics kept: secretGroup, entropy, path, keywords, rule and
 * global allowlists (paths, regexes with their target, stopwords, OR/AND, targetRules),
 * `gitleaks:allow`. Loaded from a config, the rules run in a scan like any detector.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadDetection } from '../cli/detection-setup.ts'
import type { ScanChunk } from '../core/contracts.ts'
import type { DetectorDefinition } from '../core/detector.ts'
import { scanReference } from '../core/scan.ts'
import { parseGitleaksRules } from '../plugins/detectors/gitleaks-rules.ts'
import { translateGoRegExp } from '../plugins/detectors/go-regexp.ts'
import { buildImage } from '../plugins/sources/image-builder.ts'
import { ociLayoutSource } from '../plugins/sources/oci-layout.ts'
import { writeOciLayout } from '../plugins/sources/oci-layout-writer.ts'
import { randomBase62, randomFrom, randomHex } from './support/fake-secrets.ts'

const fixturePath = resolve(import.meta.dirname, 'fixtures/gitleaks-rules.toml')
const rules = parseGitleaksRules(await readFile(fixturePath, 'utf8'), { source: fixturePath })
const rule = (id: string): DetectorDefinition => {
  const found = rules.find((detector) => detector.id === id)
  if (!found) throw new Error(`no rule ${id}`)
  return found
}
const chunk = (text: string, path = 'srv/app/settings.env'): ScanChunk => ({ text, path, sourceType: 'file_final', key: '', binary: false })
const found = (id: string, text: string, path?: string): string[] => [...rule(id).detect(chunk(text, path))].map((match) => match.value)
const lowerAlnum = (length: number) => randomFrom('abcdefghijklmnopqrstuvwxyz0123456789', length)

describe('translating Go regular expressions', () => {
  it.each([
    ['(?i)token', 'token', 'i'],
    [String.raw`\b(p8e-(?i)[a-z0-9]{32})`, String.raw`\b(p8e-[a-zA-Z0-9]{32})`, ''],
    ['(?i)x(?-i:Ab)', '[xX](?:Ab)', ''],
    ['a(?i:bc)d', 'a(?:[bB][cC])d', ''],
    ['(?P<key>[[:alpha:]]+)', '(?<key>[A-Za-z]+)', ''],
    [String.raw`end\z`, 'end$', ''],
    [String.raw`\Aline`, '^line', ''],
    ['(?s)a.b', String.raw`a[\s\S]b`, ''],
    ['(?m)^x$', String.raw`(?<![^\n])x(?![^\n])`, ''],
    [String.raw`\Qa.b\E+`, String.raw`a\.b+`, ''],
    [String.raw`\x{41}\101`, String.raw`\x41\x41`, ''],
    ['[]a]', String.raw`[\]a]`, ''],
    ['{{x}}', String.raw`\{\{x}}`, ''],
  ])('%s -> /%s/%s', (go, source, flags) => {
    expect(translateGoRegExp(go)).toEqual({ source, flags })
  })

  it.each([
    [String.raw`\pL+`, 'the Unicode class \\p'],
    ['(?U)a+', 'the ungreedy flag U'],
    ['a(?=b)', 'the group (?=b'],
    ['[[:^alpha:]]', 'the negated POSIX class [:^alpha:]'],
    [String.raw`\C`, '\\C (any byte)'],
    ['(a', 'an unclosed ('],
  ])('refuses %s: %s', (go, message) => {
    expect(() => translateGoRegExp(go)).toThrow(message)
  })
})

describe('a gitleaks rule file', () => {
  it('loads every rule as a detector with its id, description and lower-case keywords', () => {
    expect(rules.map((detector) => detector.id)).toEqual([
      'acme-api-token',
      'widgetco-api-key',
      'zephyr-access-token',
      'billing-php-secret-key',
      'corp-deploy-token',
      'dual-form-token',
      'orbit-access-key-id',
      'generic-api-key',
      'legacy-session-secret',
      'kestrel-key',
      'posix-class-token',
    ])
    expect(rule('orbit-access-key-id')).toMatchObject({ name: 'orbit-access-key-id', description: 'Orbit access key id; documentation keys end in EXAMPLE', keywords: ['orbk', 'orbt'], confidence: 'medium' })
  })

  it('keeps case-sensitive parts case-sensitive and insensitive parts insensitive', () => {
    const token = `acme_${randomBase62(32)}`
    expect(found('acme-api-token', `ACME_TOKEN=${token}\n`)).toEqual([token])
    expect(found('acme-api-token', `ACME_TOKEN=ACME_${randomBase62(32)}\n`)).toEqual([])
    const hex = randomHex(40).toUpperCase()
    expect(found('widgetco-api-key', `WIDGETCO_API_KEY = "${hex}"\n`)).toEqual([hex])
    const zephyr = lowerAlnum(24)
    expect(found('zephyr-access-token', `Zephyr_token: ${zephyr}\n`)).toEqual([zephyr])
    expect(found('zephyr-access-token', `ZEPHYR_TOKEN=${zephyr}\n`)).toEqual([zephyr])
    expect(found('zephyr-access-token', `zePHyr_token=${zephyr}\n`)).toEqual([])
  })

  it('takes secretGroup, else the first group that matched', () => {
    const token = `cdt_${lowerAlnum(30)}`
    expect(found('corp-deploy-token', `CORP_PROD_DEPLOY_TOKEN="${token}"`)).toEqual([token])
    const second = `db_${lowerAlnum(20)}`
    expect(found('dual-form-token', `dual_b=${second}`)).toEqual([second])
  })

  it('drops secrets whose entropy is not above the rule threshold', () => {
    expect(found('acme-api-token', `ACME_TOKEN=acme_${'ab'.repeat(16)}\n`)).toEqual([])
  })

  it('runs path rules only on matching files', () => {
    const line = `'secret_key' => 'sk_${randomBase62(29)}',`
    expect(found('billing-php-secret-key', line, 'var/www/config/billing.php')).toHaveLength(1)
    expect(found('billing-php-secret-key', line, 'var/www/config/billing.txt')).toEqual([])
    expect(found('billing-php-secret-key', line, '')).toEqual([])
  })

  it('applies rule allowlists: regexes on the secret, the match or the line, stopwords, AND conditions', () => {
    expect(found('orbit-access-key-id', 'key = ORBKIOSFODNN7EXAMPLE')).toEqual([])
    const orbit = `ORBK${randomFrom('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`
    expect(found('orbit-access-key-id', `key = ${orbit}`)).toEqual([orbit])

    const value = randomBase62(32)
    expect(found('generic-api-key', `api_token = "${value}"`)).toEqual([value])
    expect(found('generic-api-key', `public_key = "${value}"`)).toEqual([])
    expect(found('generic-api-key', `api_token = "sample_${value}"`)).toEqual([])
    expect(found('generic-api-key', 'api_token = "only-words-here"')).toEqual([])

    const session = randomBase62(40)
    expect(found('legacy-session-secret', `debug = true\nsession_secret = "${session}"`)).toEqual([session])
    expect(found('legacy-session-secret', `debug = true\nsession_secret = "${session}"\n`)).toEqual([])
    expect(found('legacy-session-secret', `# test-only\nsession_secret = "${session}"`)).toEqual([session])
    expect(found('legacy-session-secret', `x = 1\n# test-only: session_secret = "${session}"`)).toEqual([])

    const demo = `kst_demo${randomBase62(26)}`
    const real = `kst_${randomBase62(30)}`
    expect(found('kestrel-key', demo, 'srv/samples/app.env')).toEqual([])
    expect(found('kestrel-key', demo, 'srv/app/app.env')).toEqual([demo])
    expect(found('kestrel-key', real, 'srv/samples/app.env')).toEqual([real])
  })

  it('applies global allowlists, to the rules they target', () => {
    const token = `acme_${randomBase62(32)}`
    expect(found('acme-api-token', `${token}\n`, 'srv/vendor/lib/config')).toEqual([])
    expect(found('acme-api-token', `${token}\n`, 'srv/static/logo.PNG')).toEqual([])
    expect(found('acme-api-token', `acme_test${randomBase62(28)}\n`)).toEqual([])
    expect(found('acme-api-token', `acme_notreal${randomBase62(25)}\n`)).toEqual([])
    expect(found('acme-api-token', `${token}\n`, 'srv/public-docs/index.md')).toEqual([])
    const widget = randomHex(40)
    expect(found('widgetco-api-key', `widgetco_key=${widget}\n`, 'srv/public-docs/index.md')).toEqual([widget])
  })

  it('honours gitleaks:allow on the line', () => {
    expect(found('acme-api-token', `TOKEN=acme_${randomBase62(32)} # gitleaks:allow\n`)).toEqual([])
  })

  it('translates POSIX classes', () => {
    const token = `tok-${randomBase62(20)}`
    expect(found('posix-class-token', token)).toEqual([token])
    expect(found('posix-class-token', `tok-${randomBase62(10)}_${randomBase62(9)}`)).toEqual([])
  })
})

describe('rules that cannot be loaded', () => {
  const broken = `
[[rules]]
id = "unicode-letters"
regex = '''token=\\pL{20}'''

[[rules]]
id = "ungreedy"
regex = '''(?U)key=.+'''

[[rules]]
id = "pkcs12-file"
path = '''\\.p12$'''

[[rules]]
id = "too-few-groups"
regex = '''tk_([a-z]{10})'''
secretGroup = 2

[[rules]]
id = "fine"
regex = '''fine_[a-z]{10}'''

[[rules]]
id = "fine"
regex = '''fine_[a-z]{12}'''

[[rules]]
id = "composite"
regex = '''user_[a-z]{8}'''
[[rules.required]]
id = "fine"

[[rules]]
id = "odd-allowlist"
regex = '''odd_[a-z]{8}'''
[[rules.allowlists]]
condition = "XOR"
regexes = ['''x''']
`

  it('are all named in one error, each with what is wrong', () => {
    let message = ''
    try {
      parseGitleaksRules(broken, { source: 'team.toml' })
    } catch (error) {
      message = (error as Error).message
      expect(error).toMatchObject({ code: 'INVALID_CONFIG' })
    }
    expect(message.split('\n')).toEqual([
      'team.toml: 7 rule(s) cannot be loaded:',
      '  - rule "unicode-letters": the Unicode class \\p (offset 6) cannot be translated to JavaScript',
      '  - rule "ungreedy": the ungreedy flag U (offset 0) cannot be translated to JavaScript',
      '  - rule "pkcs12-file": path-only rules (no regex) report files, not secrets, and are not supported',
      '  - rule "too-few-groups": secretGroup is 2 but the regex has 1 group(s)',
      '  - rule "fine": duplicate id "fine"',
      '  - rule "composite": composite rules ([[rules.required]], skipReport) are not supported',
      '  - rule "odd-allowlist": allowlist 1: condition must be OR or AND (got "XOR")',
    ])
  })

  it('and a file that is not TOML says so', () => {
    expect(() => parseGitleaksRules('[[rules]\nid = 1', { source: 'bad.toml' })).toThrow(/^bad\.toml: not valid TOML/)
    expect(() => parseGitleaksRules('[[rules]]\nid = 1', { source: 'bad.toml' })).toThrow('bad.toml: rules.0.id')
    expect(() => parseGitleaksRules('[extend]\npath = "base.toml"', { source: 'x.toml' })).toThrow('extending another file is not supported')
  })
})

describe('gitleaks rules from the config', () => {
  it('run in a scan next to the built-ins, from a path relative to the config file', async () => {
    const work = await mkdtemp(join(tmpdir(), 'layerleak-gitleaks-'))
    await writeFile(join(work, 'rules.toml'), await readFile(fixturePath, 'utf8'))
    const token = `acme_${randomBase62(32)}`
    const image = await buildImage({ layers: [{ files: [{ path: 'srv/app/.env', content: `ACME_TOKEN=${token}\n` }] }] })
    await writeOciLayout(join(work, 'layout'), image, { tag: 't' })
    const { detectors, filters, origins } = await loadDetection({ config: { gitleaksRules: ['rules.toml'] }, configPath: join(work, 'layerleak.config.json'), cwd: '/' })
    expect(origins.get('acme-api-token')).toBe('gitleaks:rules.toml')
    expect(origins.get('aws-access-key-id')).toBe('built-in')
    const result = await scanReference({ reference: `oci:${join(work, 'layout')}:t`, sources: [ociLayoutSource()], detectors, filters, persistRawSecrets: true })
    expect(result.findings.map((finding) => [finding.detector_name, finding.value])).toEqual([['acme-api-token', token]])
  })

  it('may not take a built-in detector id', async () => {
    const work = await mkdtemp(join(tmpdir(), 'layerleak-gitleaks-'))
    await writeFile(join(work, 'rules.toml'), `[[rules]]\nid = "jwt"\nregex = '''eyJ[a-z]+'''\n`)
    await expect(loadDetection({ config: { gitleaksRules: ['rules.toml'] }, configPath: join(work, 'layerleak.config.json') })).rejects.toThrow(
      'detector id "jwt" from gitleaks rules rules.toml is already taken by a detector from the built-in catalog',
    )
  })
})
