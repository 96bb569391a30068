/**
 * Part 1 of the native catalog (cloud, AWS, source hosting and CI, package registries, payments):
 * every detector's own examples must match next to one of its keywords, its negatives must not,
 * and the offline checksum validators must accept real-format tokens and reject one-character typos.
 */
import { describe, expect, it } from 'vitest'
import type { ScanChunk } from '../core/contracts.ts'
import type { DetectorDefinition } from '../core/detector.ts'
import { AWS_CANARY_ACCOUNT_IDS, awsAccountIdFromKeyId, awsCanaryService, awsDetectors } from '../plugins/detectors/aws.ts'
import {
  AZURE_CHECKSUM_SEEDS,
  base36Encode,
  base62Encode,
  crc32,
  decodeBase64,
  isValidAtlassianToken,
  isValidAzureIdentifiableKey,
  isValidGitHubToken,
  isValidGitLabRoutableToken,
  isValidGrafanaServiceAccountToken,
  isValidNpmToken,
  isValidVercelToken,
  marvin32,
  marvin64,
} from '../plugins/detectors/checksums.ts'
import { cloudDetectors } from '../plugins/detectors/cloud.ts'
import { packageRegistryDetectors } from '../plugins/detectors/package-registries.ts'
import { paymentDetectors } from '../plugins/detectors/payments.ts'
import { sourceHostingDetectors } from '../plugins/detectors/source-hosting.ts'

const catalogs: Record<string, DetectorDefinition[]> = {
  aws: awsDetectors,
  cloud: cloudDetectors,
  'source-hosting': sourceHostingDetectors,
  'package-registries': packageRegistryDetectors,
  payments: paymentDetectors,
}
const allDetectors = Object.values(catalogs).flat()

const chunk = (text: string): ScanChunk => ({ text, sourceType: 'file_final', path: 'app/.env', key: '', binary: false })
const scan = (detector: DetectorDefinition, text: string) => [...detector.detect(chunk(text))]

/** where a keyword occurs, case-insensitively */
const keywordPositions = (text: string, keywords: string[]): number[] => {
  const lower = text.toLowerCase()
  const positions: number[] = []
  for (const keyword of keywords) {
    for (let at = lower.indexOf(keyword); at >= 0; at = lower.indexOf(keyword, at + 1)) positions.push(at)
  }
  return positions
}

/** how far before a secret its keyword may sit (`HEROKU_API_KEY=`, a key id before its secret...) */
const KEYWORD_REACH = 120

describe('the part-1 catalog', () => {
  it('has about 130 detectors with unique kebab-case ids', () => {
    const ids = allDetectors.map((detector) => detector.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const id of ids) expect(id).toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/)
    expect(ids.length).toBeGreaterThanOrEqual(110)
  })

  it('gives every detector a name, a description, lower-case keywords, examples and negatives', () => {
    for (const detector of allDetectors) {
      expect(detector.name, detector.id).not.toBe('')
      expect(detector.description.length, detector.id).toBeGreaterThan(20)
      expect(detector.keywords.length, detector.id).toBeGreaterThan(0)
      for (const keyword of detector.keywords) expect(keyword, detector.id).toBe(keyword.toLowerCase())
      expect(detector.examples.length, detector.id).toBeGreaterThan(0)
      expect(detector.negatives.length, detector.id).toBeGreaterThan(0)
    }
  })
})

for (const [family, detectors] of Object.entries(catalogs)) {
  describe(`${family} detectors`, () => {
    for (const detector of detectors) {
      describe(detector.id, () => {
        it.each(detector.examples)('finds a secret next to a keyword in %s', (example) => {
          const positions = keywordPositions(example, detector.keywords)
          expect(positions.length, 'the prefilter would never run this detector on its example').toBeGreaterThan(0)
          const matches = scan(detector, example)
          expect(matches.length).toBeGreaterThan(0)
          const nearKeyword = matches.filter(
            (match) => example.slice(match.start, match.end) === match.value && positions.some((at) => at >= match.start - KEYWORD_REACH && at < match.end),
          )
          expect(nearKeyword.map((match) => match.value)).not.toEqual([])
        })

        it.each(detector.negatives)('finds nothing in %s', (negative) => {
          expect(scan(detector, negative)).toEqual([])
        })
      })
    }
  })
}

// --- checksums ---

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const randomText = (length: number, alphabet = BASE62): string =>
  Array.from({ length }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('')

/** the same token with one character replaced by another of the same alphabet */
const flip = (token: string, index: number, alphabet = BASE62): string => {
  const current = token[index]
  const replacement = alphabet[(alphabet.indexOf(current) + 1 + Math.floor(Math.random() * (alphabet.length - 1))) % alphabet.length]
  return token.slice(0, index) + replacement + token.slice(index + 1)
}

const base62Token = (prefix: string, randomLength: number): string => {
  const random = randomText(randomLength)
  return prefix + random + base62Encode(crc32(random), 6)
}

describe('CRC32', () => {
  it('matches the IEEE check value for "123456789"', () => {
    expect(crc32('123456789')).toBe(0xcbf43926)
  })

  it('hashes bytes and their UTF-8 string alike', () => {
    expect(crc32(new TextEncoder().encode('glsa_abc'))).toBe(crc32('glsa_abc'))
  })
})

describe('GitHub and npm token checksums', () => {
  it('accept the published example token', () => {
    // github.blog's format write-up, as reproduced in coolaj86's base62 token gist
    expect(isValidGitHubToken('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')).toBe(true)
  })

  it.each(['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'])('accept generated %s tokens and reject one-character typos', (prefix) => {
    for (let i = 0; i < 20; i++) {
      const token = base62Token(prefix, 30)
      expect(isValidGitHubToken(token)).toBe(true)
      expect(isValidGitHubToken(flip(token, 4 + Math.floor(Math.random() * 36)))).toBe(false)
    }
  })

  it('accept generated npm tokens and reject typos', () => {
    const token = base62Token('npm_', 30)
    expect(isValidNpmToken(token)).toBe(true)
    expect(isValidNpmToken(flip(token, 10))).toBe(false)
    expect(isValidNpmToken(flip(token, 38))).toBe(false)
  })

  it('reject the wrong prefix or length', () => {
    const token = base62Token('ghp_', 30)
    expect(isValidNpmToken(token)).toBe(false)
    expect(isValidGitHubToken(`${token}A`)).toBe(false)
  })
})

describe('Vercel token checksums', () => {
  it('accept generated tokens and reject typos', () => {
    const token = base62Token('vcp_', 50)
    expect(isValidVercelToken(token)).toBe(true)
    expect(isValidVercelToken(flip(token, 20))).toBe(false)
  })
})

describe('GitLab routable token checksums', () => {
  it('accept the token from GitLab’s own decoder spec and reject its one-character change', () => {
    expect(isValidGitLabRoutableToken('glrtr-W5m1cHR6skC98Bx7XkuYjmM6MQpnOjgKbzpyegp0OjIQ.01.181uebm4k')).toBe(true)
    expect(isValidGitLabRoutableToken('glrtr-W5m1cHR6skC98Bx7XkuYjmM6MQpnOjgKbzpyegp0OjIQ.01.181uebm4l')).toBe(false)
  })

  it('accept generated v1 tokens and reject typos in the payload', () => {
    const payload = 'c:1\no:2s\nu:9ix'
    const bytes = new Uint8Array([...crypto.getRandomValues(new Uint8Array(16)), ...new TextEncoder().encode(payload), payload.length])
    const encoded = Buffer.from(bytes).toString('base64url')
    const head = `glpat-${encoded}.01.${base36Encode(encoded.length, 2)}`
    const token = head + base36Encode(crc32(head), 7)
    expect(isValidGitLabRoutableToken(token)).toBe(true)
    const urlAlphabet = `${BASE62}-_`
    expect(isValidGitLabRoutableToken(flip(token, 10, urlAlphabet))).toBe(false)
  })
})

describe('Atlassian and Bitbucket token checksums', () => {
  it('accept generated API tokens, access tokens and app passwords', () => {
    for (const prefix of ['ATATT3xFfGF0', 'ATCTT3xFfGN0']) {
      const head = `${prefix}${randomText(171, `${BASE62}_-`)}=`
      const token = head + crc32(head).toString(16).toUpperCase().padStart(8, '0')
      expect(isValidAtlassianToken(token)).toBe(true)
      expect(isValidAtlassianToken(flip(token, 40))).toBe(false)
    }
    const appPassword = `ATBB${randomText(24)}`
    expect(isValidAtlassianToken(appPassword + crc32(appPassword).toString(16).padStart(8, '0'))).toBe(true)
  })

  it('accept the app-password sample from Kingfisher’s rule set and reject a changed checksum', () => {
    expect(isValidAtlassianToken('ATBBAb3dE5fG7hJ9kL2mN4pQ6rS8AD6D34F4')).toBe(true)
    expect(isValidAtlassianToken('ATBBAb3dE5fG7hJ9kL2mN4pQ6rS8AD6D34F5')).toBe(false)
  })
})

describe('Grafana service-account token checksums', () => {
  it('accept generated tokens (little-endian CRC32) and reject typos', () => {
    const head = `glsa_${randomText(32)}`
    const crc = crc32(head)
    const hex = [crc, crc >>> 8, crc >>> 16, crc >>> 24].map((byte) => (byte & 0xff).toString(16).padStart(2, '0')).join('')
    const token = `${head}_${hex}`
    expect(isValidGrafanaServiceAccountToken(token)).toBe(true)
    expect(isValidGrafanaServiceAccountToken(flip(token, 12))).toBe(false)
  })
})

describe('Marvin32 and Azure identifiable keys', () => {
  it('matches SymCrypt’s published Marvin test vectors', () => {
    const hex = ([high, low]: [number, number]) => high.toString(16).padStart(8, '0') + low.toString(16).padStart(8, '0')
    expect(hex(marvin64(new TextEncoder().encode('abc'), 0xd53cd9cecd0893b7n))).toBe('22c74339492769bf')
    expect(hex(marvin64(new TextEncoder().encode('abcdefghijklmnopqrstuvwxyz'), 0xddddeeeeffff000n))).toBe('a128eb7e7260aca2')
    expect(hex(marvin64(new Uint8Array([]), 0x004fb61a001bdbccn))).toBe('30ed35c100cd3c7d')
    expect(hex(marvin64(new Uint8Array([171, 66, 126, 168, 209, 15, 199]), 0x004fb61a001bdbccn))).toBe('e11847e4f0678c41')
    expect(hex(marvin64(new Uint8Array([255, 0, 255]), 0x804fb61a801bdbccn))).toBe('9d8577c0fe0d30bf')
  })

  it('accepts a generated storage key and rejects it with one character changed', () => {
    const bytes = crypto.getRandomValues(new Uint8Array(64))
    let text = Buffer.from(bytes).toString('base64')
    text = `${text.slice(0, 76)}+ASt${text.slice(80)}`
    const decoded = decodeBase64(text) as Uint8Array
    const checksum = marvin32(decoded.subarray(0, 60), AZURE_CHECKSUM_SEEDS.storage[0])
    decoded.set([checksum & 0xff, (checksum >>> 8) & 0xff, (checksum >>> 16) & 0xff, checksum >>> 24], 60)
    const key = Buffer.from(decoded).toString('base64')
    expect(key.slice(76, 80)).toBe('+ASt')
    expect(isValidAzureIdentifiableKey(key, '+ASt', AZURE_CHECKSUM_SEEDS.storage)).toBe(true)
    expect(isValidAzureIdentifiableKey(flip(key, 30), '+ASt', AZURE_CHECKSUM_SEEDS.storage)).toBe(false)
    expect(isValidAzureIdentifiableKey(key, '+ASt', AZURE_CHECKSUM_SEEDS.batch)).toBe(false)
  })
})

describe('AWS key ids', () => {
  it('decode to the account id of the documented example (Aidan Steele, Tal Be’ery)', () => {
    expect(awsAccountIdFromKeyId('ASIAY34FZKBOKMUTVV7A')).toBe('609629065308')
  })

  it('do not decode legacy AKIAI/AKIAJ keys or malformed ids', () => {
    expect(awsAccountIdFromKeyId('AKIAIOSFODNN7EXAMPLE')).toBeUndefined()
    expect(awsAccountIdFromKeyId('AKIAJ4TQHL2MVXW7RPNE')).toBeUndefined()
    expect(awsAccountIdFromKeyId('AKIA0000')).toBeUndefined()
  })

  it('recognise canarytokens.org keys and grade them low', () => {
    // TruffleHog's canary fixture key
    expect(awsAccountIdFromKeyId('AKIASP2TPHJSQH3FJRUX')).toBe('171436882533')
    expect(awsCanaryService('AKIASP2TPHJSQH3FJRUX')).toBe('canarytokens.org')
    expect(AWS_CANARY_ACCOUNT_IDS.has('052310077262')).toBe(true)
    const keyId = awsDetectors.find((detector) => detector.id === 'aws-access-key-id') as DetectorDefinition
    const [canary] = scan(keyId, 'aws_access_key_id = AKIASP2TPHJSQH3FJRUX')
    expect(canary.confidence).toBe('low')
    const [real] = scan(keyId, 'aws_access_key_id = AKIAZ4TQHL2MVXW7RPNE')
    expect(real.confidence).toBeUndefined()
  })

  it('grade a secret paired with a canary key id low', () => {
    const paired = awsDetectors.find((detector) => detector.id === 'aws-secret-access-key-paired') as DetectorDefinition
    const [match] = scan(paired, 'AKIASP2TPHJSQH3FJRUX q8Hk2Vd9Lm3Pz7Rt5Wx1Nb6Yc4Gf0Js8Ae2Ku7Tb')
    expect(match.confidence).toBe('low')
  })
})

describe('checksummed detectors', () => {
  const byId = (id: string) => allDetectors.find((detector) => detector.id === id) as DetectorDefinition

  it('grade a GitHub token with a wrong checksum low and a good one at the default', () => {
    const token = base62Token('ghp_', 30)
    const [good] = scan(byId('github-personal-access-token'), `GITHUB_TOKEN=${token}`)
    expect(good.value).toBe(token)
    expect(good.confidence).toBeUndefined()
    const [bad] = scan(byId('github-personal-access-token'), `GITHUB_TOKEN=${flip(token, 8)}`)
    expect(bad.confidence).toBe('low')
  })

  it('grade an npm token with a wrong checksum low', () => {
    const token = base62Token('npm_', 30)
    expect(scan(byId('npm-access-token'), `//registry.npmjs.org/:_authToken=${token}`)[0].confidence).toBeUndefined()
    expect(scan(byId('npm-access-token'), `//registry.npmjs.org/:_authToken=${flip(token, 6)}`)[0].confidence).toBe('low')
  })

  it('drop an Atlassian API token whose checksum fails', () => {
    const head = `ATATT3xFfGF0${randomText(171, `${BASE62}_-`)}=`
    const token = head + crc32(head).toString(16).toUpperCase().padStart(8, '0')
    expect(scan(byId('atlassian-api-token'), `JIRA_API_TOKEN=${token}`).map((match) => match.value)).toEqual([token])
    expect(scan(byId('atlassian-api-token'), `JIRA_API_TOKEN=${flip(token, 50)}`)).toEqual([])
  })
})

describe('detectors that also scan binary files', () => {
  it('are prefixed, long formats: a distinctive keyword and no low default', () => {
    const binary = allDetectors.filter((detector) => detector.binary)
    expect(binary.length).toBeGreaterThan(50)
    for (const detector of binary) {
      expect(detector.confidence, detector.id).not.toBe('low')
      expect(Math.min(...detector.keywords.map((keyword) => keyword.length)), detector.id).toBeGreaterThanOrEqual(3)
    }
  })
})
