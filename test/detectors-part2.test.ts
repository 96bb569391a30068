import { Buffer } from 'node:buffer'
import { describe, expect, it } from 'vitest'
import type { ScanChunk } from '../core/contracts.ts'
import type { DetectorDefinition } from '../core/detector.ts'
import { createPrefilter } from '../core/prefilter.ts'
import { TextScanner } from '../core/text-scanner.ts'
import { aiDetectors } from '../plugins/detectors/ai.ts'
import { databaseDetectors } from '../plugins/detectors/databases.ts'
import { classifyKey, GENERIC_CREDENTIAL_CASES, genericDetectors } from '../plugins/detectors/generic.ts'
import { messagingDetectors } from '../plugins/detectors/messaging.ts'
import { observabilityDetectors } from '../plugins/detectors/observability.ts'
import { privateKeyDetectors } from '../plugins/detectors/private-keys.ts'
import { tokenDetectors } from '../plugins/detectors/tokens.ts'

const catalogs: Record<string, DetectorDefinition[]> = {
  messaging: messagingDetectors,
  ai: aiDetectors,
  observability: observabilityDetectors,
  databases: databaseDetectors,
  'private-keys': privateKeyDetectors,
  tokens: tokenDetectors,
  generic: genericDetectors,
}
const everyDetector = Object.values(catalogs).flat()

const chunk = (text: string): ScanChunk => ({ text, sourceType: 'file_final', path: 'srv/app/settings.conf', key: '', binary: false })
const valuesFound = (detector: DetectorDefinition, text: string): string[] => [...detector.detect(chunk(text))].map((match) => match.value)

describe.each(Object.entries(catalogs))('the %s catalog', (_name, detectors) => {
  it('has unique kebab-case ids', () => {
    const ids = detectors.map((detector) => detector.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const id of ids) expect(id).toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/)
  })

  it('gives every detector lower-case, non-empty keywords', () => {
    for (const detector of detectors) {
      expect(detector.keywords.length, detector.id).toBeGreaterThan(0)
      for (const keyword of detector.keywords) expect(keyword, detector.id).toMatch(/^[^A-Z]+$/)
    }
  })

  describe.each(detectors.map((detector) => [detector.id, detector] as const))('%s', (_id, detector) => {
    it('finds a secret in every example, and every example holds one of its keywords', () => {
      expect(detector.examples.length).toBeGreaterThan(0)
      for (const example of detector.examples) {
        expect(valuesFound(detector, example), example).not.toEqual([])
        expect(detector.keywords.some((keyword) => example.toLowerCase().includes(keyword)), example).toBe(true)
      }
    })

    it('reports the secret itself: its offsets, no quotes or blanks around it', () => {
      for (const example of detector.examples) {
        for (const match of detector.detect(chunk(example))) {
          expect(example.slice(match.start, match.end)).toBe(match.value)
          expect(match.value).toBe(match.value.trim())
          expect(match.value, example).not.toMatch(/^["'`]|["'`]$/)
        }
      }
    })

    it('finds nothing in its negatives', () => {
      expect(detector.negatives.length).toBeGreaterThan(0)
      for (const negative of detector.negatives) expect(valuesFound(detector, negative), negative).toEqual([])
    })
  })
})

describe('the part-2 catalog as the pipeline runs it', () => {
  const scanner = new TextScanner(everyDetector, createPrefilter(everyDetector))

  it('has ids unique across all of its files', () => {
    const ids = everyDetector.map((detector) => detector.id)
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([])
  })

  // padded so that keyword windows are smaller than the file, as in a real layer
  const padding = '# nothing to see here, just configuration comments\n'.repeat(400)
  it.each(everyDetector.map((detector) => [detector.id, detector] as const))('reports every example of %s under its own id', (_id, detector) => {
    for (const example of detector.examples) {
      const bytes = new TextEncoder().encode(`${padding}${example}\n${padding}`)
      const found = scanner.scanBytes(bytes, { sourceType: 'file_final', path: 'srv/app/settings.conf', key: '' })
      expect(found.map((match) => match.detectorId), example).toContain(detector.id)
    }
  })
})

const detectorById = (id: string): DetectorDefinition => {
  const detector = everyDetector.find((candidate) => candidate.id === id)
  if (!detector) throw new Error(`no detector ${id}`)
  return detector
}
const matchesOf = (id: string, text: string, binary = false) =>
  [...detectorById(id).detect({ text, sourceType: 'file_final', path: 'srv/app/settings.conf', key: '', binary })]

describe('the generic credential rule', () => {
  it.each(GENERIC_CREDENTIAL_CASES)('in %j finds %j', (text, expected) => {
    expect(matchesOf('generic-credential', text).map((match) => match.value)).toEqual(expected === undefined ? [] : [expected])
  })

  it('finds through the prefilter, trying only where its keywords start, exactly what a pass over the whole text finds', () => {
    const detector = detectorById('generic-credential')
    const lines = [...GENERIC_CREDENTIAL_CASES.map(([text]) => text), 'access.key = Zq8rT2mK9vLw4xPn', 'MASTER-KEY: "Tq9xL2mVr7KzW4pN"', 'pAsSwOrD=Xk29fLq8Zt!m']
    const text = lines.map((line, i) => `${'filler line with no credential words '.repeat(i % 3)}\n${line}`).join('\n')
    const whole = [...detector.detect({ text, sourceType: 'file_final', path: 'srv/app/settings.conf', key: '', binary: false })]
    const viaPrefilter = new TextScanner([detector], createPrefilter([detector])).scanText(text, { sourceType: 'file_final', path: 'srv/app/settings.conf', key: '' })
    expect(whole.length).toBeGreaterThan(GENERIC_CREDENTIAL_CASES.filter(([, expected]) => expected).length)
    expect(viaPrefilter.map((match) => [match.value, match.start])).toEqual(whole.map((match) => [match.value, match.start]))
  })

  it('reports the whole key the value sat under, prefixes included', () => {
    expect(matchesOf('generic-credential', 'export MYSQL_ROOT_PASSWORD="v7#Qm2pL9xRt"').map((match) => match.key)).toEqual(['MYSQL_ROOT_PASSWORD'])
    expect(matchesOf('generic-credential', 'app --db-password Tz8qL2mXv9Rk').map((match) => match.key)).toEqual(['db-password'])
  })

  it('grades long varied values medium and short or plain ones low', () => {
    expect(matchesOf('generic-credential', 'API_KEY = "9f8Kq2LmX7vT4rWz1pN6"')[0]?.confidence).toBe('medium')
    expect(matchesOf('generic-credential', 'password: "hunter22"')[0]?.confidence).toBe('low')
  })

  it('classifies keys by the credential they name, not by the word they contain', () => {
    expect(classifyKey('DB_PASSWORD')).toBe('password')
    expect(classifyKey('clientSecret')).toBe('secret')
    expect(classifyKey('SECRET_KEY_BASE')).toBe('secret')
    expect(classifyKey('STRIPE_API_KEY_PROD')).toBe('secret')
    for (const key of ['password_hash', 'token_type', 'PASSWORD_MIN_LENGTH', 'csrf_token', 'passwordless', 'tokenizer', 'author', 'api_key_header', 'max_tokens', 'secretName']) {
      expect(classifyKey(key), key).toBeUndefined()
    }
  })

  it('loses a value to any specific detector that also matches it', () => {
    const scanner = new TextScanner(everyDetector, createPrefilter(everyDetector))
    const found = scanner.scanText('SENDGRID_API_KEY=' + 'SG.' + 'di2h1pQRm067N0EDgd0o-h.EGQlxQN-C86o0N_wfuEsMFFmsr0uQ0TNJW3EMsFbMFO', { sourceType: 'env', path: '', key: 'SENDGRID_API_KEY' })
    expect(found.map((match) => match.detectorId)).toEqual(['sendgrid-api-key'])
  })
})

describe('JWT detection', () => {
  const sign = (header: object, payload: object, signature = 'kfS5YkO9WecsiUFKqb0u6ACMDF9WDa-883gs6-lf7X8') =>
    `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`

  it('accepts a token whose header is JSON naming an alg', () => {
    const token = sign({ alg: 'ES256', typ: 'JWT' }, { sub: 'svc-42', exp: 1893456000 })
    expect(matchesOf('jwt', `token=${token}`)).toMatchObject([{ value: token }])
  })

  it('rejects a header without alg, and a header or payload that is not JSON', () => {
    expect(matchesOf('jwt', sign({ typ: 'JWT' }, { sub: 'svc-42' }))).toEqual([])
    expect(matchesOf('jwt', `eyJub3QganNvbiBhdCBhbGw.${sign({ alg: 'HS256' }, {}).split('.')[1]}.abcdefghijklmnop`)).toEqual([])
    expect(matchesOf('jwt', `${sign({ alg: 'HS256' }, {}).split('.')[0]}.eyJub3QganNvbiBhdCBhbGw.abcdefghijklmnop`)).toEqual([])
  })

  it('grades unsigned tokens low', () => {
    expect(matchesOf('jwt', sign({ alg: 'none' }, { sub: 'anonymous', role: 'admin' }, ''))[0]?.confidence).toBe('low')
  })

  it('leaves monday.com tokens to their own detector', () => {
    const example = detectorById('monday-api-token').examples[0]
    const scanner = new TextScanner(everyDetector, createPrefilter(everyDetector))
    expect(scanner.scanText(example, { sourceType: 'file_final', path: '', key: '' }).map((match) => match.detectorId)).toEqual(['monday-api-token'])
  })
})

describe('private keys', () => {
  const keyDetectorIds = privateKeyDetectors.map((detector) => detector.id)
  const firstExample = (id: string, index = 0) => detectorById(id).examples[index]

  it('report the whole block, header to footer', () => {
    const [match] = matchesOf('private-key-rsa', `key:\n${firstExample('private-key-rsa')}\ntrailer`)
    expect(match?.value.startsWith('-----BEGIN RSA PRIVATE KEY-----')).toBe(true)
    expect(match?.value.endsWith('-----END RSA PRIVATE KEY-----')).toBe(true)
  })

  it('never match public keys, certificates or SSH public keys', () => {
    const publicMaterial = detectorById('private-key-rsa').negatives.slice(0, 4)
    for (const text of publicMaterial) for (const id of keyDetectorIds) expect(matchesOf(id, text), `${id} on ${text.slice(0, 40)}`).toEqual([])
  })

  it('grade passphrase-protected keys medium and bare keys high', () => {
    expect(matchesOf('private-key-rsa', firstExample('private-key-rsa', 0))[0]?.confidence).toBeUndefined()
    expect(matchesOf('private-key-rsa', firstExample('private-key-rsa', 3))[0]?.confidence).toBe('medium')
    expect(matchesOf('private-key-openssh', firstExample('private-key-openssh', 0))[0]?.confidence).toBeUndefined()
    expect(matchesOf('private-key-openssh', firstExample('private-key-openssh', 1))[0]?.confidence).toBe('medium')
    expect(matchesOf('putty-private-key', firstExample('putty-private-key', 1))[0]?.confidence).toBe('medium')
    expect(matchesOf('pgp-private-key-block', firstExample('pgp-private-key-block', 0))[0]?.confidence).toBeUndefined()
    expect(matchesOf('pgp-private-key-block', firstExample('pgp-private-key-block', 1))[0]?.confidence).toBe('medium')
  })

  it('find a block longer than the default keyword window, from header to footer', () => {
    const example = firstExample('pgp-private-key-block')
    const extraLines = Array.from({ length: 500 }, (_, i) => Buffer.from(Array.from({ length: 48 }, (_, j) => (i * 31 + j * 17) % 256)).toString('base64')).join('\n')
    // more armored lines before the last, padded one
    const large = example.replace('\nZCBCb3Qg', `\n${extraLines}\nZCBCb3Qg`)
    expect(large.length).toBeGreaterThan(30_000)
    const scanner = new TextScanner(privateKeyDetectors, createPrefilter(privateKeyDetectors))
    const found = scanner.scanBytes(new TextEncoder().encode(`${'# padding\n'.repeat(5000)}${large}\n${'# padding\n'.repeat(5000)}`), { sourceType: 'file_final', path: 'root/.gnupg/secret.asc', key: '' })
    expect(found.map((match) => [match.detectorId, match.value.length])).toEqual([['pgp-private-key-block', large.length]])
  })

  it('find keys inside binary content', () => {
    const binary = `\u0000\u0001ELF\u0000${firstExample('private-key-openssh')}\u0000\u00ff`
    expect(detectorById('private-key-openssh').binary).toBe(true)
    expect(matchesOf('private-key-openssh', binary, true)).toHaveLength(1)
  })

  it('grade an age key with a broken bech32 checksum low', () => {
    const key = firstExample('age-secret-key', 1).slice('SOPS_AGE_KEY='.length)
    const broken = `${key.slice(0, -1)}${key.endsWith('Q') ? 'P' : 'Q'}`
    expect(matchesOf('age-secret-key', key)[0]?.confidence).toBeUndefined()
    expect(matchesOf('age-secret-key', broken)[0]?.confidence).toBe('low')
  })
})

describe('keyword-bound detectors', () => {
  it('need their keyword before the value, not anywhere in the text', () => {
    expect(matchesOf('deepseek-api-key', 'key: sk-5e076645be2e9a0bf091fd5228c6a3f3\n# deepseek')).toEqual([])
    expect(matchesOf('deepseek-api-key', 'deepseek:\n  key: sk-5e076645be2e9a0bf091fd5228c6a3f3')).toHaveLength(1)
  })

  it('match the key case-insensitively and the value exactly', () => {
    expect(matchesOf('datadog-api-key', 'Datadog_Api_Key=f12975d3f7cfb649bb6987d78d00bfde')).toHaveLength(1)
    expect(matchesOf('datadog-api-key', 'DD_API_KEY=F12975D3F7CFB649BB6987D78D00BFDE')).toEqual([])
  })
})
