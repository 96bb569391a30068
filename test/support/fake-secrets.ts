/**
 * Real-format credentials with random values, generated afresh for every run: nothing here was
 * ever live, and no test can pass because it memorised a value. Checksummed formats carry valid
 * checksums, AWS key ids can be made to name a chosen account, keys are real keys.
 */
import { Buffer } from 'node:buffer'
import { generateKeyPairSync, randomBytes, randomInt } from 'node:crypto'
import { rootCertificates } from 'node:tls'
import { base62Encode, crc32 } from '../../plugins/detectors/checksums.ts'

export const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const HEX = '0123456789abcdef'

export const randomFrom = (alphabet: string, length: number): string =>
  Array.from({ length }, () => alphabet[randomInt(alphabet.length)]).join('')

export const randomBase62 = (length: number): string => randomFrom(BASE62, length)
export const randomHex = (length: number): string => randomFrom(HEX, length)
/** base64 without padding, `/` and `+` included */
export const randomBase64 = (length: number): string => randomFrom(`${BASE62}+/`, length)

/** `ghp_` + 30 random base62 + the CRC32 checksum GitHub appends */
export const githubToken = (prefix = 'ghp_'): string => {
  const body = randomBase62(30)
  return `${prefix}${body}${base62Encode(crc32(body), 6)}`
}

/**
 * An AWS access key id whose encoded account is `account` (12 digits): the 16 characters after
 * AKIA are base32 of 80 bits whose bits 1..40 of the first 6 bytes hold the account (see
 * awsAccountIdFromKeyId in plugins/detectors/aws.ts).
 */
export const awsKeyIdForAccount = (account: string, prefix = 'AKIA'): string => {
  const firstSixBytes = (BigInt(account) << 7n) | BigInt(randomInt(128))
  const firstFifty = (firstSixBytes << 2n) | BigInt(randomInt(4))
  let head = ''
  for (let shift = 45n; shift >= 0n; shift -= 5n) head += BASE32[Number((firstFifty >> shift) & 31n)]
  return `${prefix}${head}${randomFrom(BASE32, 6)}`
}

export const awsKeyPair = () => ({
  // accounts below 2^39: above it the fifth character can be I or J, which marks a pre-2019 key with no account in it
  id: awsKeyIdForAccount(String(randomInt(100_000_000, 500_000_000_000)).padStart(12, '0')),
  secret: `${randomBase64(38)}${randomFrom('abcdefghij', 1)}${randomFrom('KLMNOPQRST', 1)}`,
})

export const stripeLiveKey = (): string => `sk_live_${randomBase62(99)}`
export const slackBotToken = (): string => `xoxb-${randomInt(100_000_000_000, 999_999_999_999)}-${randomInt(1_000_000_000_000, 9_999_999_999_999)}-${randomBase62(24)}`
export const slackWebhook = (): string =>
  `https://hooks.slack.com/services/T${randomFrom('ABCDEFGHJKLMNPQRSTUVWXYZ0123456789', 10)}/B${randomFrom('ABCDEFGHJKLMNPQRSTUVWXYZ0123456789', 10)}/${randomBase62(24)}`
/** a password as people pick them when told to: long, mixed, with a symbol */
export const strongPassword = (): string => `${randomBase62(14)}${randomFrom('!#%+-_', 1)}${randomBase62(4)}`

const base64url = (text: string): string => Buffer.from(text).toString('base64url')
/** an HS256 JWT whose header decodes, with a random subject and signature */
export const jwtToken = (): string =>
  `${base64url('{"alg":"HS256","typ":"JWT"}')}.${base64url(JSON.stringify({ sub: randomHex(12), iat: 1_716_800_000, scope: 'orders:write' }))}.${randomBytes(32).toString('base64url')}`

export const rsaPrivateKeyPem = (): string =>
  generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey

export const pkcs8PrivateKeyPem = (): string =>
  generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey

/** the public halves, which are not secrets: SPKI PEM, PKCS#1 PEM, an OpenSSH authorized_keys line */
export const publicKeys = () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } })
  const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'pkcs1', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } })
  const ed25519 = generateKeyPairSync('ed25519')
  const raw = Buffer.from(ed25519.publicKey.export({ format: 'jwk' }).x as string, 'base64url')
  const field = (bytes: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), bytes])
  const wire = Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)])
  return { spki: rsa.publicKey, pkcs1: pkcs1.publicKey, openssh: `ssh-ed25519 ${wire.toString('base64')} deploy@ci` }
}

/** real public certificates: Node's bundled Mozilla CA roots */
export const caBundle = (count = 20): string => rootCertificates.slice(0, count).join('\n')

/** A GCP service-account key file, as the console downloads it (the PEM with `\n` escapes). */
export const gcpServiceAccountJson = (): string =>
  JSON.stringify(
    {
      type: 'service_account',
      project_id: `billing-prod-${randomInt(1000, 9999)}`,
      private_key_id: randomHex(40),
      private_key: pkcs8PrivateKeyPem(),
      client_email: `deployer@billing-prod.iam.gserviceaccount.com`,
      client_id: String(randomInt(100_000_000_000, 999_999_999_999)),
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: 'https://oauth2.googleapis.com/token',
      auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
      client_x509_cert_url: 'https://www.googleapis.com/robot/v1/metadata/x509/deployer%40billing-prod.iam.gserviceaccount.com',
      universe_domain: 'googleapis.com',
    },
    null,
    2,
  )
