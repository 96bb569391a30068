/**
 * The fixtures filter on its own: which matches it suppresses, with which reason, and (as much
 * as the rest) which it must leave alone: random values in ordinary places.
 */
import { Buffer } from 'node:buffer'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { MatchContext } from '../core/contracts.ts'
import { fixturesFilter } from '../plugins/filters/fixtures.ts'
import { isSequential, placeholderReason } from '../plugins/filters/placeholder-values.ts'
import {
  awsKeyPair,
  caBundle,
  githubToken,
  jwtToken,
  publicKeys,
  randomBase62,
  randomBase64,
  randomFrom,
  randomHex,
  rsaPrivateKeyPem,
  slackBotToken,
  stripeLiveKey,
  strongPassword,
} from './support/fake-secrets.ts'

const filter = fixturesFilter()
const match = (value: string, fields: Partial<MatchContext> = {}): MatchContext => ({
  detectorId: 'generic-credential',
  confidence: 'medium',
  value,
  sourceType: 'file_final',
  path: 'srv/app/config/settings.env',
  key: 'API_TOKEN',
  line: `API_TOKEN=${value}`,
  ...fields,
})
const reasonFor = (value: string, fields: Partial<MatchContext> = {}) => filter.classify(match(value, fields))?.reason

describe('where a match sits', () => {
  it.each([
    ['app/tests/fixtures/creds.json', 'test or example path (tests/)'],
    ['srv/app/__tests__/login.js', 'test or example path (__tests__/)'],
    ['go/src/acme/pkg/testdata/key.pem', 'test or example path (testdata/)'],
    ['usr/lib/python3/site-packages/boto/spec/data.json', 'test or example path (spec/)'],
    ['app/mocks/api.ts', 'test or example path (mocks/)'],
    ['app/e2e/login.cy.ts', 'test or example path (e2e/)'],
    ['usr/share/doc/acme/examples/deploy.sh', 'test or example path (doc/)'],
    ['lib/app.jar!META-INF/samples/app.properties', 'test or example path (samples/)'],
    ['srv/app/.env.example', 'template or example file'],
    ['srv/app/config.sample.yml', 'template or example file'],
    ['srv/app/settings.template.json', 'template or example file'],
    ['srv/app/example.env', 'template or example file'],
    ['etc/app/app.conf.dist', 'template or example file'],
    ['srv/app/src/user.test.ts', 'test file'],
    ['srv/app/spec/user_spec.rb', 'test or example path (spec/)'],
    ['srv/app/store_test.go', 'test file'],
    ['srv/app/test_api.py', 'test file'],
    ['srv/app/.env.test', 'test file'],
  ])('%s: %s', (path, reason) => {
    expect(reasonFor(githubToken(), { path })).toBe(reason)
  })

  it.each(['srv/app/.env', 'etc/app/config.yml', 'home/app/.aws/credentials', 'opt/contest/settings.py', 'srv/latest/app.env', 'opt/attestation/keys.json', 'srv/protest.env'])(
    'leaves %s alone',
    (path) => {
      expect(reasonFor(githubToken(), { path })).toBeUndefined()
    },
  )

  it('can be told about more such directories, or to ignore paths', () => {
    expect(fixturesFilter({ extraSegments: ['QA'] }).classify(match(githubToken(), { path: 'srv/qa/.env' }))?.reason).toBe('test or example path (qa/)')
    expect(fixturesFilter({ paths: false }).classify(match(githubToken(), { path: 'srv/tests/.env' }))).toBeUndefined()
  })

  it('judges config sources (no path) by their value only', () => {
    expect(reasonFor(githubToken(), { path: '', sourceType: 'env' })).toBeUndefined()
    expect(reasonFor('changeme', { path: '', sourceType: 'env' })).toBe('placeholder value')
  })
})

describe('documented example values', () => {
  it.each([
    ['AKIAIOSFODNN7EXAMPLE', 'AWS documentation'],
    ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'AWS documentation'],
    ['AKIAI44QH8DHBEXAMPLE', 'AWS documentation'],
    ['je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY', 'AWS documentation'],
    [
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
      'jwt.io sample token',
    ],
    // a tutorial that pasted its own claims in front of jwt.io's signature
    ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c', 'jwt.io sample token'],
    ['sk_test_4eC39HqLyjWDarjtT1zdp7dc', 'Stripe documentation'],
    ['pk_test_TYooMQauvdEDq54NiTphI7jx', 'Stripe documentation'],
    ['sk_test_BQokikJOvBiI2HlWgH4olfQ2', 'Stripe documentation'],
    ['xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy', 'Slack documentation'],
    ['ghp_16C7e42F292c6912E7710c838347Ae178B4a', 'GitHub documentation'],
    ['gho_16C7e42F292c6912E7710c838347Ae178B4a', 'GitHub documentation'],
    ['key-3ax6xnjp29jd6fds4gc373sgvjxteol0', 'Mailgun documentation'],
    ['Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==', 'Azure Storage emulator well-known key'],
    ['mysecretpassword', 'Docker Hub image documentation'],
    ['my-secret-pw', 'Docker Hub image documentation'],
    ['ASIAIOSFODNN7EXAMPLE', 'documentation value marked EXAMPLE'],
  ])('%s', (value, source) => {
    expect(reasonFor(value)).toBe(`documented example value (${source})`)
  })

  it('recognises a documented key inside a connection string', () => {
    const value = 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;'
    expect(reasonFor(value)).toBe('documented example value (Azure Storage emulator well-known key)')
  })
})

describe('placeholders', () => {
  it.each([
    'xxxxxxxxxxxxxxxx',
    'sk_live_xxxxxxxxxxxxxxxxxxxxxxxx',
    'AKIAXXXXXXXXXXXXXXXX',
    'your_api_key_here',
    'YOUR_API_KEY',
    'yourApiKeyHere',
    'insert-token-here',
    '<token>',
    '<YOUR GITHUB TOKEN>',
    '[API_KEY]',
    '${GITHUB_TOKEN}',
    '$GITHUB_TOKEN',
    '%API_KEY%',
    '{{ .Values.token }}',
    '${{ secrets.NPM_TOKEN }}',
    "<%= ENV['SECRET'] %>",
    'changeme',
    'CHANGEME',
    'change-me',
    'placeholder',
    '********',
    '••••••••',
    'aaaaaaaaaaaaaaaa',
    '0000000000000000000000000000000000000000',
    'abababababababab',
    '1234567890',
    'abcdefghijklmnop',
    '0123456789abcdef0123456789abcdef',
    'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
    'xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx',
    'ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    'sk_live_REPLACE_ME',
    'my-secret-token',
    'super_secret_token',
    'qwerty123',
    'notasecret',
  ])('%s', (value) => {
    expect(reasonFor(value)).toMatch(/^placeholder value/)
  })

  it('sees a sequence only when it covers the value', () => {
    expect(isSequential('abcdef123456')).toBe(true)
    expect(isSequential('9876543210')).toBe(true)
    expect(isSequential('a1b2c3d4e5f6')).toBe(false)
    expect(isSequential('abc')).toBe(false)
  })
})

describe('integrity hashes', () => {
  const sri = `sha512-${randomBytes(64).toString('base64')}`
  const h1 = `${randomBytes(32).toString('base64')}`
  const hex = randomHex(64)

  it.each([
    ['srv/app/package-lock.json', sri, `      "integrity": "${sri}",`, 'lock-file integrity hash'],
    ['srv/app/yarn.lock', sri, `  integrity ${sri}`, 'lock-file integrity hash'],
    ['srv/app/pnpm-lock.yaml', sri, `    resolution: {integrity: ${sri}}`, 'lock-file integrity hash'],
    ['srv/app/go.sum', h1, `github.com/acme/lib v1.2.3 h1:${h1}`, 'lock-file integrity hash'],
    ['srv/app/Cargo.lock', hex, `checksum = "${hex}"`, 'lock-file integrity hash'],
    ['srv/app/poetry.lock', hex, `    {file = "lib-1.2.3.tar.gz", hash = "sha256:${hex}"},`, 'lock-file integrity hash'],
    ['srv/app/requirements.txt', hex, `    --hash=sha256:${hex} \\`, 'lock-file integrity hash'],
    ['srv/app/public/index.html', sri.slice(7), `<script src="/app.js" integrity="${sri}"></script>`, 'integrity hash (a package checksum)'],
  ])('%s', (path, value, line, reason) => {
    expect(reasonFor(value, { path, line, key: '' })).toBe(reason)
  })

  it('does not excuse a credential that sits in a lock file', () => {
    const token = githubToken()
    const line = `  resolved "https://ci:${token}@npm.pkg.github.com/acme/lib/-/lib-1.2.3.tgz"`
    expect(reasonFor(token, { path: 'srv/app/yarn.lock', line, key: '' })).toBeUndefined()
  })

  it('does not excuse a random value outside lock files', () => {
    expect(reasonFor(hex, { path: 'srv/app/.env', line: `SIGNING_KEY=${hex}` })).toBeUndefined()
  })
})

describe('public certificates and keys', () => {
  const keys = publicKeys()
  const certificate = caBundle(1)

  it.each([
    ['a certificate', certificate],
    ['an SPKI public key', keys.spki],
    ['a PKCS#1 public key', keys.pkcs1],
    ['an OpenSSH public key', keys.openssh],
    ['a base64 certificate (kubeconfig certificate-authority-data)', Buffer.from(certificate).toString('base64')],
  ])('suppresses %s', (_what, value) => {
    expect(reasonFor(value)).toBe('public certificate or key (not a secret)')
  })

  it('does not excuse a private key', () => {
    expect(reasonFor(rsaPrivateKeyPem(), { detectorId: 'private-key-rsa' })).toBeUndefined()
  })
})

describe('random secrets', () => {
  /** many values of every shape secrets come in; none may look like a placeholder or an example */
  const shapes: Record<string, () => string> = {
    'base62 of any length': () => randomBase62(8 + Math.floor(Math.random() * 57)),
    'hex of any length': () => randomHex(16 + Math.floor(Math.random() * 49)),
    'base64 secret access keys': () => awsKeyPair().secret,
    'AWS key ids': () => awsKeyPair().id,
    'GitHub tokens': () => githubToken(),
    'Slack tokens': () => slackBotToken(),
    'Stripe keys': () => stripeLiveKey(),
    JWTs: () => jwtToken(),
    passwords: () => strongPassword(),
    'passwords with separators': () => `${randomBase62(6)}-${randomBase62(6)}_${randomBase62(6)}.${randomBase62(4)}`,
    'short base64': () => randomBase64(12),
    'lower-case alphanumerics': () => randomFrom('abcdefghijklmnopqrstuvwxyz0123456789', 10 + Math.floor(Math.random() * 30)),
  }

  it.each(Object.entries(shapes))('are never suppressed by value: %s', (_shape, make) => {
    const suppressed: string[] = []
    for (let i = 0; i < 400; i++) {
      const value = make()
      const reason = reasonFor(value)
      if (reason) suppressed.push(`${value}: ${reason}`)
    }
    expect(suppressed).toEqual([])
  })

  it('are never mistaken for placeholders by their words', () => {
    expect(placeholderReason('correct-horse-battery-staple')).toBeUndefined()
    expect(placeholderReason('Tr0ub4dor&3')).toBeUndefined()
  })
})

describe("a secret scanner's own rule files", () => {
  const filter = fixturesFilter()
  const match = (path: string) => ({ detectorId: 'github-personal-access-token', confidence: 'high' as const, value: 'ghp_R4nd0mV4lu3Th4tIsN0tAPl4c3h0ld3rXYZ1', sourceType: 'file_final' as const, path, key: '', line: '' })

  it('suppresses layerleak\'s catalog as installed or transpiled', () => {
    expect(filter.classify(match('usr/lib/node_modules/layerleak/dist/plugins/detectors/source-hosting.js'))?.disposition).toBe('suppressed')
    expect(filter.classify(match('app/node_modules/.cache/jiti/detectors-aws.c7d71f59.mjs'))?.disposition).toBe('suppressed')
  })

  it('does not suppress an application that merely has a detectors folder', () => {
    expect(filter.classify(match('srv/app/plugins/detectors/config.js'))).toBeUndefined()
  })
})
