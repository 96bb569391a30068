/**
 * The detection corpus: realistic files in real formats with values generated for this run, built
 * into images and scanned through the whole pipeline with the detectors and filters the CLI uses.
 * It proves precedence and overlaps (one secret is one finding, the most specific detector wins)
 * and that the usual false-positive traps (code about passwords, UUIDs, hashes, lock files, public
 * certificates and keys, documentation values) produce no actionable finding.
 */
import { Buffer } from 'node:buffer'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { loadDetection } from '../cli/detection-setup.ts'
import type { ScanResult } from '../core/result.ts'
import { scanReference } from '../core/scan.ts'
import { base62Encode, crc32 } from '../plugins/detectors/checksums.ts'
import { type BuiltImage, buildImage } from '../plugins/sources/image-builder.ts'
import { ociLayoutSource } from '../plugins/sources/oci-layout.ts'
import { writeOciLayout } from '../plugins/sources/oci-layout-writer.ts'
import {
  awsKeyPair,
  caBundle,
  gcpServiceAccountJson,
  githubToken,
  jwtToken,
  publicKeys,
  randomBase62,
  randomBase64,
  randomFrom,
  randomHex,
  rsaPrivateKeyPem,
  slackBotToken,
  slackWebhook,
  stripeLiveKey,
} from './support/fake-secrets.ts'

/** Scans an image as `layerleak scan` would, with no config: built-in detectors and filters. */
const scanAsCli = async (image: BuiltImage): Promise<ScanResult> => {
  const dir = await mkdtemp(join(tmpdir(), 'layerleak-corpus-'))
  await writeOciLayout(dir, image, { tag: 'corpus' })
  const { detectors, filters } = await loadDetection({ config: {} })
  return scanReference({ reference: `oci:${dir}:corpus`, sources: [ociLayoutSource()], detectors, filters, persistRawSecrets: true })
}

const occurrences = (result: ScanResult) =>
  [...result.findings, ...result.suppressed_findings].flatMap((finding) => finding.occurrences.map((occurrence) => ({ ...occurrence, finding })))

/** the detectors that reported something at `path`, one entry per finding, sorted */
const detectorsAt = (result: ScanResult, path: string): string[] =>
  [...result.findings, ...result.suppressed_findings]
    .filter((finding) => finding.occurrences.some((occurrence) => occurrence.file_path === path))
    .map((finding) => finding.detector_name)
    .sort()

const npmToken = (): string => {
  const body = randomBase62(30)
  return `npm_${body}${base62Encode(crc32(body), 6)}`
}
/** URL-safe, as a password inside a URI has to be */
const uriPassword = (): string => `${randomBase62(12)}-${randomBase62(6)}`

describe('one secret is one finding, and the most specific detector names it', () => {
  const github = githubToken()
  const aws = awsKeyPair()
  const password = uriPassword()
  const webhook = slackWebhook()
  const stripe = stripeLiveKey()
  const slack = slackBotToken()
  const jwt = jwtToken()
  const npm = npmToken()
  const sharedToken = githubToken()
  let result: ScanResult

  beforeAll(async () => {
    result = await scanAsCli(
      await buildImage({
        layers: [
          {
            createdBy: 'COPY . /srv/api # buildkit',
            files: [
              { path: 'srv/api/.env', content: `NODE_ENV=production\nPORT=8080\nGITHUB_TOKEN=${github}\nSHARED_TOKEN=${sharedToken}\n` },
              { path: 'root/.aws/credentials', content: `[default]\naws_access_key_id = ${aws.id}\naws_secret_access_key = ${aws.secret}\nregion = eu-west-1\n` },
              { path: 'srv/api/config/database.yml', content: `production:\n  url: postgres://orders:${password}@db.internal:5432/orders?sslmode=require\n  pool: 10\n` },
              { path: 'srv/api/config/notify.yml', content: `slack:\n  channel: "#deploys"\n  webhook_url: ${webhook}\n` },
              { path: 'srv/keys/service-account.json', content: gcpServiceAccountJson() },
              { path: 'srv/api/.env.production', content: `STRIPE_SECRET_KEY=${stripe}\nSLACK_BOT_TOKEN=${slack}\n` },
              { path: 'home/app/.ssh/id_rsa', content: rsaPrivateKeyPem() },
              { path: 'etc/app/upstream.conf', content: `proxy_set_header Authorization "Bearer ${jwt}";\n` },
              { path: 'home/app/.npmrc', content: `registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=${npm}\n` },
              { path: 'home/app/.git-credentials', content: `https://ci-bot:${sharedToken}@github.com\n` },
              { path: 'srv/worker/.env', content: `DB_HOST=db.internal\nDB_PASSWORD=${password}\n` },
            ],
          },
        ],
        env: ['PATH=/usr/local/bin:/usr/bin', `SHARED_TOKEN=${sharedToken}`],
      }),
    )
  })

  it('names a GitHub token under GITHUB_TOKEN= as a GitHub token, not a generic credential', () => {
    expect(detectorsAt(result, 'srv/api/.env')).toEqual(['github-personal-access-token', 'github-personal-access-token'])
    expect(result.findings.find((finding) => finding.value === github)?.detector_name).toBe('github-personal-access-token')
  })

  it('reports an AWS key pair in a credentials file as its key id and its secret key, each under its key', () => {
    expect(detectorsAt(result, 'root/.aws/credentials')).toEqual(['aws-access-key-id', 'aws-secret-access-key'])
    const keys = result.findings.flatMap((finding) => finding.occurrences).filter((occurrence) => occurrence.file_path === 'root/.aws/credentials')
    expect(keys.map((occurrence) => occurrence.key).sort()).toEqual(['aws_access_key_id', 'aws_secret_access_key'])
    expect(result.findings.filter((finding) => finding.value === aws.id || finding.value === aws.secret)).toHaveLength(2)
  })

  it('reports the password of a postgres URI once, as a postgres connection URI', () => {
    expect(detectorsAt(result, 'srv/api/config/database.yml')).toEqual(['postgres-connection-uri'])
    expect(result.findings.find((finding) => finding.detector_name === 'postgres-connection-uri')?.value).toBe(password)
  })

  it('merges a password found by the postgres URI rule and by the generic rule into one finding, named by the specific one', () => {
    const found = result.findings.filter((finding) => finding.value === password)
    expect(found).toHaveLength(1)
    expect(found[0].detector_name).toBe('postgres-connection-uri')
    expect(found[0].occurrences.map((occurrence) => [occurrence.detector_name, occurrence.file_path]).sort()).toEqual([
      ['generic-credential', 'srv/worker/.env'],
      ['postgres-connection-uri', 'srv/api/config/database.yml'],
    ])
  })

  it('reports a Slack webhook URL as a Slack webhook', () => {
    expect(detectorsAt(result, 'srv/api/config/notify.yml')).toEqual(['slack-webhook-url'])
  })

  it('reports the PEM key inside a GCP service-account file once, as a service-account key', () => {
    expect(detectorsAt(result, 'srv/keys/service-account.json')).toEqual(['gcp-service-account-private-key'])
    expect(result.findings.find((finding) => finding.detector_name === 'gcp-service-account-private-key')?.value).toMatch(/^-----BEGIN PRIVATE KEY-----/)
  })

  it('names vendor tokens in an env file by their vendor', () => {
    expect(detectorsAt(result, 'srv/api/.env.production')).toEqual(['slack-bot-token', 'stripe-live-secret-key'])
  })

  it('reports an RSA private key file as an RSA private key', () => {
    expect(detectorsAt(result, 'home/app/.ssh/id_rsa')).toEqual(['private-key-rsa'])
  })

  it('names a JWT sent as a bearer token as a JWT', () => {
    expect(detectorsAt(result, 'etc/app/upstream.conf')).toEqual(['jwt'])
    expect(result.findings.find((finding) => finding.detector_name === 'jwt')?.value).toBe(jwt)
  })

  it('names an npm token in .npmrc as an npm token, once', () => {
    expect(detectorsAt(result, 'home/app/.npmrc')).toEqual(['npm-access-token'])
  })

  it('merges one token found in a file, a credentials URL and the image env into one finding', () => {
    const shared = result.findings.filter((finding) => finding.value === sharedToken)
    expect(shared).toHaveLength(1)
    expect(shared[0].detector_name).toBe('github-personal-access-token')
    expect(shared[0].occurrences.map((occurrence) => occurrence.file_path || occurrence.source_type).sort()).toEqual(['env', 'home/app/.git-credentials', 'srv/api/.env'])
  })

  it('reports nothing else: every finding is one of the planted secrets', () => {
    const planted = [github, aws.id, aws.secret, stripe, slack, jwt, npm, sharedToken, webhook]
    const unexpected = result.findings.filter((finding) => !planted.includes(finding.value ?? '') && finding.value !== password && !finding.value?.startsWith('-----BEGIN'))
    expect(unexpected.map((finding) => `${finding.detector_name}: ${finding.occurrences[0].context_snippet}`)).toEqual([])
    expect(result.total_findings).toBe(12)
    expect(result.suppressed_findings_count).toBe(0)
  })
})

// --- false-positive traps ---

const sriHash = (): string => `sha512-${randomBytes(64).toString('base64')}`
const packages = Array.from({ length: 25 }, (_, i) => `pkg-${randomFrom('abcdefghijklmnopqrstuvwxyz', 8)}-${i}`)

const packageLock = (): string =>
  JSON.stringify(
    {
      name: 'api',
      version: '1.0.0',
      lockfileVersion: 3,
      requires: true,
      packages: Object.fromEntries(
        packages.map((name) => [
          `node_modules/${name}`,
          { version: '1.2.3', resolved: `https://registry.npmjs.org/${name}/-/${name}-1.2.3.tgz`, integrity: sriHash(), license: 'MIT' },
        ]),
      ),
    },
    null,
    2,
  )
const yarnLock = (): string =>
  packages
    .map((name) => `"${name}@^1.2.0":\n  version "1.2.3"\n  resolved "https://registry.yarnpkg.com/${name}/-/${name}-1.2.3.tgz#${randomHex(40)}"\n  integrity ${sriHash()}\n`)
    .join('\n')
const pnpmLock = (): string =>
  `lockfileVersion: '9.0'\n\npackages:\n\n${packages.map((name) => `  ${name}@1.2.3:\n    resolution: {integrity: ${sriHash()}}\n    engines: {node: '>=18'}\n`).join('\n')}`
const goSum = (): string =>
  packages
    .map((name) => `github.com/acme/${name} v1.2.3 h1:${randomBytes(32).toString('base64')}\ngithub.com/acme/${name} v1.2.3/go.mod h1:${randomBytes(32).toString('base64')}\n`)
    .join('')
const cargoLock = (): string =>
  `version = 3\n\n${packages.map((name) => `[[package]]\nname = "${name}"\nversion = "1.2.3"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "${randomHex(64)}"\n`).join('\n')}`
const poetryLock = (): string =>
  packages
    .map((name) => `[[package]]\nname = "${name}"\nversion = "1.2.3"\nfiles = [\n    {file = "${name}-1.2.3-py3-none-any.whl", hash = "sha256:${randomHex(64)}"},\n    {file = "${name}-1.2.3.tar.gz", hash = "sha256:${randomHex(64)}"},\n]\n`)
    .join('\n')
const requirements = (): string => packages.map((name) => `${name}==1.2.3 \\\n    --hash=sha256:${randomHex(64)} \\\n    --hash=sha256:${randomHex(64)}\n`).join('')

const codeAboutPasswords = `import { hash, compare } from 'bcrypt'

export const PASSWORD_MIN_LENGTH = 12
export const MAX_PASSWORD_ATTEMPTS = 5

export async function login(username: string, password: string) {
  if (!password) throw new Error('password is required')
  const user = await users.findByName(username)
  const token = await sessions.issue(user.id, { ttl: SESSION_TOKEN_TTL })
  if (!(await compare(password, user.passwordHash))) throw new Unauthorized('wrong password')
  return { token, tokenType: 'Bearer', expiresIn: 3600 }
}

export const config = {
  password: process.env.DB_PASSWORD,
  apiKey: process.env.API_KEY ?? '',
  secret: options.secret,
  token: req.headers.authorization?.slice(7),
}
`
const djangoSettings = `import os

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "PASSWORD": os.getenv("DB_PASSWORD"), "HOST": "db"}}
CSRF_COOKIE_SECURE = True
`
const templatedConfig = `database:
  host: db.internal
  password: \${DB_PASSWORD}
  url: postgres://orders:\${DB_PASSWORD}@db.internal:5432/orders
api:
  token: "{{ .Values.api.token }}"
  secret_key: <%= ENV['SECRET_KEY'] %>
github:
  token: \${{ secrets.GITHUB_TOKEN }}
`
const uuids = (): string =>
  JSON.stringify(
    Array.from({ length: 30 }, () => ({
      id: randomUUID(),
      tenant_id: randomUUID(),
      request_id: randomUUID(),
      correlation_id: randomUUID(),
      api_version: '2024-06-01',
      session_token_ttl: 3600,
    })),
    null,
    2,
  )
const hashes = (): string =>
  [
    ...Array.from({ length: 20 }, () => `${randomHex(32)}  usr/lib/x86_64-linux-gnu/lib${randomFrom('abcdefgh', 6)}.so.1`),
    `commit ${randomHex(40)}`,
    `"image_digest": "sha256:${randomHex(64)}"`,
    `"checksum": "sha256:${randomHex(64)}"`,
    `sha1sum: ${randomHex(40)}`,
    `etag: "${randomHex(32)}"`,
  ].join('\n')
const kubeconfig = (): string => `apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: ${Buffer.from(caBundle(1)).toString('base64')}
    server: https://10.0.0.1:6443
  name: prod
contexts:
- context: {cluster: prod, user: viewer}
  name: prod
current-context: prod
`
const dataUri = (): string => `.logo { background-image: url(data:image/png;base64,${randomBytes(1500).toString('base64')}); }\n`

describe('false-positive traps produce no finding at all', () => {
  let result: ScanResult
  const keys = publicKeys()
  const files: Record<string, string> = {
    'srv/api/src/auth/login.ts': codeAboutPasswords,
    'srv/api/app/settings.py': djangoSettings,
    'srv/api/config/app.yml': templatedConfig,
    'srv/api/data/users.json': uuids(),
    'var/lib/dpkg/info/libfoo.md5sums': hashes(),
    'srv/api/package-lock.json': packageLock(),
    'srv/api/yarn.lock': yarnLock(),
    'srv/api/pnpm-lock.yaml': pnpmLock(),
    'srv/api/go.sum': goSum(),
    'srv/api/Cargo.lock': cargoLock(),
    'srv/api/poetry.lock': poetryLock(),
    'srv/api/requirements.txt': requirements(),
    'etc/ssl/certs/ca-certificates.crt': caBundle(140),
    'srv/api/keys/jwt-public.pem': keys.spki,
    'srv/api/keys/legacy-public.pem': keys.pkcs1,
    'home/app/.ssh/authorized_keys': `${keys.openssh}\n`,
    'etc/ssh/ssh_host_ed25519_key.pub': `${keys.openssh}\n`,
    'root/.kube/config': kubeconfig(),
    'srv/api/public/app.css': dataUri(),
  }

  beforeAll(async () => {
    result = await scanAsCli(await buildImage({ layers: [{ files: Object.entries(files).map(([path, content]) => ({ path, content })) }] }))
  })

  it.each(Object.keys(files))('%s', (path) => {
    const found = occurrences(result).filter((occurrence) => occurrence.file_path === path)
    expect(found.map((occurrence) => `${occurrence.detector_name} (${occurrence.disposition_reason || 'actionable'}): ${occurrence.context_snippet}`)).toEqual([])
  })
})

describe('documentation values and placeholders are never actionable', () => {
  let result: ScanResult

  beforeAll(async () => {
    const jwtIoSample =
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'
    result = await scanAsCli(
      await buildImage({
        layers: [
          {
            files: [
              {
                path: 'srv/api/.env.example',
                content: `GITHUB_TOKEN=${githubToken()}\nSTRIPE_SECRET_KEY=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx\nDB_PASSWORD=changeme\n`,
              },
              {
                path: 'srv/api/README.md',
                content: [
                  '## Configure',
                  '```',
                  'export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE',
                  'export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
                  "stripe.api_key = 'sk_test_4eC39HqLyjWDarjtT1zdp7dc'",
                  'SLACK_BOT_TOKEN=xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy',
                  `curl -H "Authorization: Bearer ${jwtIoSample}" https://api.example.com/me`,
                  'docker run -e POSTGRES_PASSWORD=mysecretpassword postgres',
                  'GITHUB_TOKEN=ghp_16C7e42F292c6912E7710c838347Ae178B4a',
                  'SLACK_WEBHOOK=https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX',
                  '```',
                ].join('\n'),
              },
              { path: 'srv/api/tests/fixtures/tokens.json', content: JSON.stringify({ slack: slackBotToken(), stripe: stripeLiveKey() }) },
              { path: 'usr/share/doc/acme/examples/deploy.sh', content: `export GITHUB_TOKEN=${githubToken()}\n` },
            ],
          },
        ],
      }),
    )
  })

  it('suppresses them with a reason instead of reporting them', () => {
    expect(result.findings.map((finding) => `${finding.detector_name}: ${finding.occurrences[0].file_path} ${finding.occurrences[0].context_snippet}`)).toEqual([])
    expect(result.total_findings).toBe(0)
    for (const finding of result.suppressed_findings) expect(finding.disposition_reason, finding.detector_name).not.toBe('')
  })

  it('says why: template file, documented value, test path', () => {
    const reasons = new Set(result.suppressed_findings.map((finding) => finding.disposition_reason.replace(/ \(.*$/, '')))
    expect(reasons).toContain('template or example file')
    expect(reasons).toContain('documented example value')
    expect(reasons).toContain('test or example path')
  })
})

describe('random secrets in ordinary places stay actionable', () => {
  it('does not mistake a random password, key or token for a placeholder', async () => {
    const values = Array.from({ length: 40 }, () => githubToken())
    const passwords = Array.from({ length: 40 }, () => `${randomBase62(10)}${randomFrom('!#%+', 1)}${randomBase64(8)}`)
    const result = await scanAsCli(
      await buildImage({
        layers: [
          {
            files: [
              { path: 'srv/app/.env', content: values.map((value, i) => `TOKEN_${i}=${value}`).join('\n') },
              { path: 'srv/app/db.properties', content: passwords.map((value, i) => `db${i}.password=${value}`).join('\n') },
            ],
          },
        ],
      }),
    )
    expect(result.suppressed_findings.map((finding) => `${finding.value}: ${finding.disposition_reason}`)).toEqual([])
    expect(result.total_findings).toBe(values.length + passwords.length)
  })
})
