/**
 * The user's allowlist: paths (globs or regexes), values, detectors and fingerprints suppress what
 * they name as `allowlisted (…)`, in the filter and in a scan configured like the CLI's; the config
 * is validated with messages naming the field.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadDetection } from '../cli/detection-setup.ts'
import { validateConfig } from '../core/config.ts'
import type { MatchContext } from '../core/contracts.ts'
import { fingerprintOf } from '../core/redact.ts'
import { scanReference } from '../core/scan.ts'
import { allowlistFilter, globToRegExp } from '../plugins/filters/allowlist.ts'
import { buildImage } from '../plugins/sources/image-builder.ts'
import { ociLayoutSource } from '../plugins/sources/oci-layout.ts'
import { writeOciLayout } from '../plugins/sources/oci-layout-writer.ts'
import { githubToken, slackBotToken, stripeLiveKey } from './support/fake-secrets.ts'

const match = (fields: Partial<MatchContext> = {}): MatchContext => ({
  detectorId: 'github-personal-access-token',
  confidence: 'high',
  value: githubToken(),
  sourceType: 'file_final',
  path: 'srv/app/.env',
  key: 'GITHUB_TOKEN',
  line: '',
  ...fields,
})

describe('path globs', () => {
  it.each([
    ['vendor/**', 'vendor/github.com/x/y.go', true],
    ['vendor/**', 'srv/vendor/x.go', false],
    ['**/vendor/**', 'srv/vendor/x.go', true],
    ['*.pem', 'etc/ssl/private/server.pem', true],
    ['*.pem', 'etc/ssl/private/server.pem.bak', false],
    ['/opt/app/config.yml', 'opt/app/config.yml', true],
    ['opt/app', 'opt/app/deep/file', true],
    ['opt/app', 'opt/application/file', false],
    ['srv/*/secrets.json', 'srv/api/secrets.json', true],
    ['srv/*/secrets.json', 'srv/api/v1/secrets.json', false],
    ['srv/**/secrets.json', 'srv/api/v1/secrets.json', true],
    ['**/*.{key,pem}', 'a/b/c.key', true],
    ['config-?.yml', 'etc/config-a.yml', true],
    ['lib/*.jar', 'lib/app.jar!META-INF/creds.properties', true],
  ])('%s matches %s: %s', (glob, path, expected) => {
    expect(globToRegExp(glob).test(path)).toBe(expected)
  })
})

describe('the allowlist filter', () => {
  it('suppresses by path, glob or regular expression', () => {
    const filter = allowlistFilter({ paths: ['srv/legacy/**', /\.bak$/] })
    expect(filter.classify(match({ path: 'srv/legacy/.env' }))).toEqual({ disposition: 'suppressed', reason: 'allowlisted (path)' })
    expect(filter.classify(match({ path: 'srv/app/.env.bak' }))?.reason).toBe('allowlisted (path)')
    expect(filter.classify(match({ path: 'srv/app/.env' }))).toBeUndefined()
    // config sources have no path
    expect(filter.classify(match({ path: '', sourceType: 'env' }))).toBeUndefined()
  })

  it('suppresses by value, exact or by regular expression (also with g flags, every time)', () => {
    const token = githubToken()
    const filter = allowlistFilter({ values: [token, /^xoxb-/g] })
    expect(filter.classify(match({ value: token }))?.reason).toBe('allowlisted (value)')
    const slack = match({ detectorId: 'slack-bot-token', value: slackBotToken() })
    expect([filter.classify(slack)?.reason, filter.classify(slack)?.reason]).toEqual(['allowlisted (value)', 'allowlisted (value)'])
    expect(filter.classify(match({ value: `${token}x` }))).toBeUndefined()
  })

  it('suppresses by detector id, with * wildcards', () => {
    const filter = allowlistFilter({ detectors: ['generic-*', 'jwt'] })
    expect(filter.classify(match({ detectorId: 'generic-credential' }))?.reason).toBe('allowlisted (detector)')
    expect(filter.classify(match({ detectorId: 'jwt' }))?.reason).toBe('allowlisted (detector)')
    expect(filter.classify(match({ detectorId: 'jwt-like' }))).toBeUndefined()
  })

  it('suppresses by fingerprint, plain or keyed as LAYERLEAK_FINGERPRINT_KEY makes them', () => {
    const value = githubToken()
    expect(allowlistFilter({ fingerprints: [fingerprintOf(value)] }).classify(match({ value }))?.reason).toBe('allowlisted (fingerprint)')
    const keyed = allowlistFilter({ fingerprints: [fingerprintOf(value, 'k3y')], fingerprintKey: 'k3y' })
    expect(keyed.classify(match({ value }))?.reason).toBe('allowlisted (fingerprint)')
    expect(allowlistFilter({ fingerprints: [fingerprintOf(value, 'k3y')] }).classify(match({ value }))).toBeUndefined()
  })
})

describe('the allowlist in the config', () => {
  it.each([
    [{ allowlist: { paths: [''] } }, 'allowlist.paths.0'],
    [{ allowlist: { fingerprints: ['abc'] } }, 'allowlist.fingerprints.0: a fingerprint is 64 lower-case hex characters'],
    [{ allowlist: { detector: ['jwt'] } }, 'allowlist'],
    [{ allowlist: { values: [42] } }, 'allowlist.values.0'],
    [{ baseline: '' }, 'baseline: expected a file path'],
    [{ gitleaksRules: 'rules.toml' }, 'gitleaksRules'],
  ])('rejects %j naming %s', (config, message) => {
    expect(() => validateConfig(config, 'layerleak.config.ts')).toThrow(`layerleak.config.ts: ${message}`)
  })

  it('suppresses what it names in a scan and leaves the rest actionable', async () => {
    const [kept, legacy, known] = [githubToken(), stripeLiveKey(), slackBotToken()]
    const dir = await mkdtemp(join(tmpdir(), 'layerleak-allowlist-'))
    const image = await buildImage({
      layers: [{ files: [{ path: 'srv/app/.env', content: `GITHUB_TOKEN=${kept}\nSLACK_BOT_TOKEN=${known}\n` }, { path: 'srv/legacy/.env', content: `STRIPE_KEY=${legacy}\n` }] }],
    })
    await writeOciLayout(dir, image, { tag: 't' })
    const config = validateConfig({ allowlist: { paths: ['srv/legacy/**'], fingerprints: [fingerprintOf(known, 'k')] } }, 'test config')
    const { detectors, filters } = await loadDetection({ config, fingerprintKey: 'k' })
    const result = await scanReference({ reference: `oci:${dir}:t`, sources: [ociLayoutSource()], detectors, filters, fingerprintKey: 'k' })
    expect(result.findings.map((finding) => finding.detector_name)).toEqual(['github-personal-access-token'])
    expect(result.suppressed_findings.map((finding) => [finding.detector_name, finding.disposition_reason]).sort()).toEqual([
      ['slack-bot-token', 'allowlisted (fingerprint)'],
      ['stripe-live-secret-key', 'allowlisted (path)'],
    ])
    expect(result.suppressed_findings.find((finding) => finding.detector_name === 'slack-bot-token')?.fingerprint).toBe(fingerprintOf(known, 'k'))
  })
})
