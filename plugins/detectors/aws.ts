/**
 * AWS credentials: access key ids (which also name the account that owns them), secret access keys
 * (40 characters with no prefix, so only believed next to a telling key or beside a key id) and STS
 * session tokens. Key ids of the accounts canarytokens.org (and look-alike services) use for their
 * tripwires are graded `low`: a canary is bait, not a leak, and touching it alerts its owner.
 */
import type { DetectorMatch, ScanChunk } from '../../core/contracts.ts'
import { type DetectorDefinition, defineDetector } from '../../core/detector.ts'
import { shannonEntropy } from '../../core/entropy.ts'
import { keyValuePattern } from './key-value-pattern.ts'

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/**
 * The 12-digit account id encoded in an access key id (AKIA/ASIA... keys issued since about 2019).
 * The 16 characters after the 4-character prefix are base32; the account id is bits 1..40 of the
 * first 6 decoded bytes (mask 0x7fffffffff80, shift 7). Legacy keys whose fifth character is `I` or
 * `J` predate the encoding and yield undefined, unless `legacyPrefixToo` asks for a decoding anyway
 * (new keys of accounts 549755813888..687194767359 start with those letters too).
 * Technique: Aidan Steele (2020) and Tal Be'ery (2023); ASIAY34FZKBOKMUTVV7A -> 609629065308.
 */
export const awsAccountIdFromKeyId = (keyId: string, options: { legacyPrefixToo?: boolean } = {}): string | undefined => {
  if (!/^[A-Z0-9]{4}[A-Z2-7]{16}$/.test(keyId)) return undefined
  if (!options.legacyPrefixToo && (keyId[4] === 'I' || keyId[4] === 'J')) return undefined
  // the first 6 bytes need the first 10 base32 characters (50 bits) after the prefix
  let value = 0n
  for (const char of keyId.slice(4, 14)) value = (value << 5n) | BigInt(BASE32_ALPHABET.indexOf(char))
  const firstSixBytes = value >> 2n
  const account = (firstSixBytes & 0x7fffffffff80n) >> 7n
  return account.toString().padStart(12, '0')
}

/**
 * Accounts behind canary AWS keys: canarytokens.org (Thinkst) and off-brand look-alikes, as
 * published by TruffleHog (pkg/detectors/aws/access_keys/canary.go).
 */
export const AWS_CANARY_ACCOUNT_IDS: ReadonlyMap<string, string> = new Map([
  ...['052310077262', '171436882533', '534261010715', '595918472158', '717712589309', '819147034852', '992382622183', '730335385048', '266735846894', '893192397702'].map(
    (id) => [id, 'canarytokens.org'] as const,
  ),
  ...[
    '044858866125', '251535659677', '344043088457', '351906852752', '390477818340', '426127672474', '427150556519', '439872796651',
    '445142720921', '465867158099', '637958123769', '693412236332', '732624840810', '735421457923', '959235150393', '982842642351',
  ].map((id) => [id, 'canary look-alike'] as const),
])

/**
 * The canary service behind a key id, when its account is a known canary account. Keys of accounts
 * 549755813888..687194767359 (two canary accounts among them) start AKIAI/AKIAJ like legacy keys, so
 * the legacy prefix is decoded too: a legacy key landing on one of the few canary accounts by
 * chance is a one in tens of billions event.
 */
export const awsCanaryService = (keyId: string): string | undefined => {
  const account = awsAccountIdFromKeyId(keyId, { legacyPrefixToo: true })
  return account ? AWS_CANARY_ACCOUNT_IDS.get(account) : undefined
}

const KEY_ID = '(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}'
const KEY_ID_KEYWORDS = ['akia', 'asia', 'abia', 'acca', 'a3t']

/** Canaries are reported low; temporary (ASIA) keys medium: useless without their session token. */
const gradeKeyId = (keyId: string): true | 'low' | 'medium' => {
  if (awsCanaryService(keyId)) return 'low'
  return keyId.startsWith('ASIA') ? 'medium' : true
}

/** A 40-character secret access key: base64 alphabet, random-looking, not a hex digest. */
const looksLikeSecretKey = (value: string): boolean =>
  !/^[0-9a-f]{40}$/i.test(value) && /[a-z]/.test(value) && /[A-Z]/.test(value) && shannonEntropy(value) >= 4

const SECRET_NEAR_KEY_ID = /(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g
const KEY_ID_ANYWHERE = new RegExp(`(?<![A-Za-z0-9])${KEY_ID}(?![A-Za-z0-9])`, 'g')
/** how far from a key id its secret may sit: a credentials file, an env block, a JSON object */
const PAIR_WINDOW = 400

/** Whether a canary key id sits within reach of `index` (the same credentials block or env file). */
const canaryKeyIdNear = (text: string, index: number): boolean => {
  const window = text.slice(Math.max(0, index - PAIR_WINDOW), index + PAIR_WINDOW)
  for (const id of window.matchAll(KEY_ID_ANYWHERE)) if (awsCanaryService(id[0])) return true
  return false
}

/**
 * A keyed secret access key: graded low beside a canary key id, as the paired one is. Only a canary
 * makes an AWS secret key low, which is how the canary filter (plugins/filters/canary.ts) knows it.
 */
const gradeSecretKey = (value: string, match: RegExpExecArray): boolean | 'low' =>
  looksLikeSecretKey(value) && (canaryKeyIdNear(match.input, match.index) ? 'low' : true)

function* secretsBesideKeyIds(chunk: ScanChunk): Iterable<DetectorMatch> {
  const seen = new Set<number>()
  for (const id of chunk.text.matchAll(KEY_ID_ANYWHERE)) {
    const from = Math.max(0, id.index - PAIR_WINDOW)
    const window = chunk.text.slice(from, id.index + id[0].length + PAIR_WINDOW)
    for (const candidate of window.matchAll(SECRET_NEAR_KEY_ID)) {
      const start = from + candidate.index
      if (seen.has(start) || !looksLikeSecretKey(candidate[0])) continue
      seen.add(start)
      const canary = awsCanaryService(id[0])
      yield { value: candidate[0], start, end: start + 40, ...(canary ? { confidence: 'low' as const } : {}) }
    }
  }
}

export const awsDetectors: DetectorDefinition[] = [
  defineDetector({
    id: 'aws-access-key-id',
    name: 'AWS access key ID',
    description: 'An AWS access key id (AKIA long-lived, ASIA temporary, ABIA/ACCA service credentials); it names the account that owns it.',
    confidence: 'high',
    binary: true,
    keywords: KEY_ID_KEYWORDS,
    pattern: new RegExp(`(?<![A-Za-z0-9])(?<secret>${KEY_ID})(?![A-Za-z0-9])`),
    validate: gradeKeyId,
    minEntropy: 3,
    examples: [
      'aws_access_key_id = AKIAZ4TQHL2MVXW7RPNE',
      'export AWS_ACCESS_KEY_ID="ASIAY34FZKBOKMUTVV7A"',
      '{"AccessKeyId": "AKIA2QWE7RTY5UIOPLKJ"}',
    ],
    negatives: [
      'AKIAXXXXXXXXXXXXXXXX',
      'aws_access_key_id = AKIAZ4TQHL2MVXW7RPN',
      'id=AKIAZ4TQHL2MVXW7RPNE1',
      'akiaz4tqhl2mvxw7rpne',
      'Population of ASIA: about 4.7 billion people',
    ],
  }),
  defineDetector({
    id: 'aws-secret-access-key',
    name: 'AWS secret access key',
    description: 'An AWS secret access key under a key such as aws_secret_access_key or SecretAccessKey.',
    confidence: 'high',
    keywords: ['secret_access_key', 'secretaccesskey', 'secret-access-key', 'aws_secret', 'aws-secret', 'aws.secret', 'awssecret'],
    pattern: keyValuePattern({
      keys: ['aws_secret_access_key', 'secret_access_key', 'aws_secret_key', 'aws_secret'],
      value: '[A-Za-z0-9/+]{40}',
      tail: '(?![A-Za-z0-9/+=])',
      gap: 8,
    }),
    validate: gradeSecretKey,
    examples: [
      'aws_secret_access_key = q8Hk2Vd9Lm3Pz7Rt5Wx1Nb6Yc4Gf0Js8Ae2Ku7Tb',
      'ENV AWS_SECRET_ACCESS_KEY=Zr4/Tp9Xk2Mw7Qv1Bn5Hs8Ld3Fg6Jc0Ay4Ue9Io+',
      '"SecretAccessKey": "m3Nb7Vc1Xz5Lk9Jh2Gf6Ds0Ap4Oi8Uy3Tr7Ew1Qq"',
      'aws.secretKey: Pq7Wn2Kd9Rs4Lm1Zx6Vb3Ht8Jy5Gc0Fa2Eu7Io9N',
    ],
    negatives: [
      'aws_secret_access_key = 3f786850e387550fdab836ed7e6dc881de23001b',
      'aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}',
      'aws_secret_access_key = q8Hk2Vd9Lm3Pz7Rt5Wx1Nb6Yc4Gf0Js8Ae2Ku7TbX',
      'aws_secret_access_key = xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      'The secret access key is shown only once when you create it.',
    ],
  }),
  defineDetector({
    id: 'aws-secret-access-key-paired',
    name: 'AWS secret access key (beside a key ID)',
    description: 'A 40-character secret within a few lines of an AWS access key id, as in a credentials block without telling keys.',
    confidence: 'high',
    keywords: KEY_ID_KEYWORDS,
    detect: secretsBesideKeyIds,
    examples: [
      'creds = ("AKIAZ4TQHL2MVXW7RPNE", "q8Hk2Vd9Lm3Pz7Rt5Wx1Nb6Yc4Gf0Js8Ae2Ku7Tb")',
      'AKIA2QWE7RTY5UIOPLKJ:Zr4/Tp9Xk2Mw7Qv1Bn5Hs8Ld3Fg6Jc0Ay4Ue9Io+',
    ],
    negatives: [
      'key = AKIAZ4TQHL2MVXW7RPNE\ncommit 3f786850e387550fdab836ed7e6dc881de23001b',
      'key = AKIAZ4TQHL2MVXW7RPNE\npath = /usr/share/doc/libexample/changelog.Debian',
      'q8Hk2Vd9Lm3Pz7Rt5Wx1Nb6Yc4Gf0Js8Ae2Ku7Tb with no key id anywhere near AKIA',
    ],
  }),
  defineDetector({
    id: 'aws-session-token',
    name: 'AWS session token',
    description: 'An STS session token (temporary credentials), recognised by its encoded header (IQoJb3JpZ2luX2Vj, FwoGZXIvYXdz).',
    confidence: 'medium',
    binary: true,
    keywords: ['iqojb3jpz2lux2vj', 'fwogzxivyxdz'],
    pattern: /(?<![A-Za-z0-9/+])(?<secret>(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdz)[A-Za-z0-9/+]{100,}={0,2})(?![A-Za-z0-9/+=])/,
    minEntropy: 4.5,
    examples: [
      'aws_session_token = IQoJb3JpZ2luX2VjEHcaCXVzLWVhc3QtMSJHMEUCIQDk7Yq2Lr9Vb3Np0Wx5Tc8Mh1Gs4Jf6Ad2Ke9Ru3Zo7PiAIgQm5Xn8Bv2Cl6Dk1Fj4Gh7Hs0Ia3Jb9Kc2Ld5Me8Nf1Og4Ph7Qi0Rj3Sk6Tl9Um2Vn5Wo8Xp1Yq4Zr7As0Bt3Cu6Dv9Ew2Fx5Gy8Hz1',
      'X-Amz-Security-Token: FwoGZXIvYXdzEBYaDGt7Pq2Wn9Rs4Lm1Zx6Vb3Ht8Jy5Gc0Fa2Eu7Io9NkMv3Xb6Cq1Dr4Es7Ft0Gu3Hv6Iw9Jx2Ky5Lz8Ma1Nb4Oc7Pd0Qe3Rf6Sg9Th2Ui5Vj8Wk1Xl4Ym7Zn0Ao3Bp6Cq9',
    ],
    negatives: [
      'aws_session_token = IQoJb3JpZ2luX2VjXXXXXXXXXXXXXXXX',
      'aws_session_token = IQoJb3JpZ2luX2VjAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
  }),
  defineDetector({
    id: 'aws-mws-auth-token',
    name: 'Amazon MWS auth token',
    description: 'An Amazon Marketplace Web Service authorisation token.',
    confidence: 'high',
    binary: true,
    keywords: ['amzn.mws.'],
    pattern: /(?<![A-Za-z0-9])(?<secret>amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?![A-Za-z0-9-])/,
    examples: ['MWS_AUTH_TOKEN=amzn.mws.4ea38b7b-f563-7709-4bae-87aeaf5b0c2a'],
    negatives: ['amzn.mws.4ea38b7b-f563-7709-4bae', 'amzn.mws.xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx'],
  }),
  defineDetector({
    id: 'aws-appsync-api-key',
    name: 'AWS AppSync API key',
    description: 'An AWS AppSync GraphQL API key.',
    confidence: 'medium',
    keywords: ['da2-'],
    pattern: /(?<![A-Za-z0-9-])(?<secret>da2-[a-z0-9]{26})(?![A-Za-z0-9-])/,
    minEntropy: 3.5,
    examples: ['"aws_appsync_apiKey": "da2-k3q7v9xw2mzp5rt8ybn4cjh6fd"'],
    negatives: ['da2-aaaaaaaaaaaaaaaaaaaaaaaaaa', 'da2-k3q7v9xw2mzp5rt8ybn4cjh6', 'uda2-k3q7v9xw2mzp5rt8ybn4cjh6fd'],
  }),
]
