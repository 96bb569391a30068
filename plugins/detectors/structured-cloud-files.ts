/**
 * Credentials files of cloud and container tooling, parsed: the AWS CLI's credentials and config,
 * Docker's config.json (and podman's auth.json), kubeconfig, Terraform's CLI credentials and GCP
 * service-account key files. Each value is reported under the key the file gives it, decoded where
 * the file encodes it (a Docker `auth` is base64 of user:secret, a kubeconfig client key is base64
 * of a PEM, a GCP private key is a PEM with JSON `\n` escapes).
 */
import { Buffer } from 'node:buffer'
import type { DetectorMatch, ScanChunk } from '../../core/contracts.ts'
import type { Confidence } from '../../core/result.ts'
import { awsCanaryService } from './aws.ts'
import { credible, defineFileFormatDetector, fileNameOf, type FileFormatDetector, hasLine, linesOf, pathEndsWith, secretOfBasicAuth, unquote, writtenInto } from './file-format.ts'
import { type JsonNode, jsonObjectsIn, member, stringMember } from './json-locations.ts'

// --- INI (the AWS files; .pypirc uses it too) ---

export interface IniEntry {
  section: string | undefined
  key: string
  value: string
  start: number
  end: number
}

const INI_ENTRY = /^[ \t]*([^\s=:#;[][^=:\n]*?)[ \t]*[=:][ \t]*(.*?)[ \t]*$/

/** `[section]` headers and `key = value` / `key: value` lines; comments (# ;) skipped, values as written. */
export function* iniEntries(text: string, from = 0, to = text.length): Iterable<IniEntry> {
  let section: string | undefined
  for (const line of linesOf(text, from, to)) {
    const header = /^[ \t]*\[([^\]\n]+)\][ \t]*$/.exec(line.text)
    if (header) {
      section = header[1].trim()
      continue
    }
    const entry = INI_ENTRY.exec(line.text)
    if (!entry || /^[ \t]*[#;]/.test(line.text)) continue
    const valueStart = line.start + line.text.length - line.text.replace(/^.*?[=:][ \t]*/, '').length
    yield { section, key: entry[1].toLowerCase(), value: entry[2], start: valueStart, end: valueStart + entry[2].length }
  }
}

// --- AWS ---

const AWS_KEY_ID = /^(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}$/

const gradeAwsValue = (key: string, value: string): Confidence | undefined => {
  if (key === 'aws_access_key_id') {
    if (!AWS_KEY_ID.test(value)) return undefined
    if (awsCanaryService(value)) return 'low'
    return value.startsWith('ASIA') ? 'medium' : 'high'
  }
  if (key === 'aws_secret_access_key') {
    if (/^[A-Za-z0-9/+]{40}$/.test(value) && /[a-z]/.test(value) && /[A-Z]/.test(value)) return 'high'
    // S3-compatible stores (MinIO, Ceph, R2) keep their own secrets here
    return credible(value, 8) ? 'medium' : undefined
  }
  return /^[A-Za-z0-9/+=]{100,}$/.test(value) ? 'medium' : undefined
}

const AWS_SECRET_KEYS = new Set(['aws_access_key_id', 'aws_secret_access_key', 'aws_session_token', 'aws_security_token'])

const SECTION_HEADER = /^[ \t]*\[[^\]\n]+\][ \t]*$/m

function* awsCredentialFiles(chunk: ScanChunk): Iterable<DetectorMatch> {
  const inPlace = pathEndsWith(chunk.path, '.aws', 'credentials') || pathEndsWith(chunk.path, '.aws', 'config')
  // keys count only inside a [profile] section: env files and scripts (AWS_SECRET_ACCESS_KEY=...) have none
  if (!SECTION_HEADER.test(chunk.text) && !chunk.text.includes('.aws/')) return
  // any INI text with an AWS key inside a [profile] section is one of these files, wherever it sits
  const regions = [{ start: 0, end: chunk.text.length, text: chunk.text }, ...(inPlace ? [] : writtenInto(chunk.text, ['.aws/credentials', '.aws/config']))]
  for (const region of regions) {
    const entries = [...iniEntries(region.text)].filter((entry) => entry.section !== undefined && AWS_SECRET_KEYS.has(entry.key))
    // a profile whose key id belongs to a canary account is a tripwire as a whole: its secret too
    const canaryProfiles = new Set(entries.filter((entry) => entry.key === 'aws_access_key_id' && awsCanaryService(entry.value)).map((entry) => entry.section))
    for (const entry of entries) {
      const graded = gradeAwsValue(entry.key, entry.value)
      if (!graded) continue
      const confidence = canaryProfiles.has(entry.section) ? 'low' : graded
      yield { value: entry.value, start: region.start + entry.start, end: region.start + entry.end, key: entry.key, confidence }
    }
  }
}

// --- Docker ---

const isDockerConfigPath = (path: string): boolean =>
  pathEndsWith(path, '.docker', 'config.json') ||
  pathEndsWith(path, 'containers', 'auth.json') ||
  ['.dockercfg', '.dockerconfigjson'].includes(fileNameOf(path))

function* registryEntryCredentials(entry: JsonNode): Iterable<DetectorMatch> {
  const auth = stringMember(entry, 'auth')
  const secret = auth ? secretOfBasicAuth(auth.value) : undefined
  if (auth && secret !== undefined && credible(secret)) yield { value: secret, start: auth.start, end: auth.end, key: 'auth' }
  for (const key of ['password', 'identitytoken', 'registrytoken']) {
    const found = stringMember(entry, key)
    if (found && credible(found.value, key === 'password' ? 4 : 16)) yield { value: found.value, start: found.start, end: found.end, key }
  }
}

function* dockerConfigs(chunk: ScanChunk): Iterable<DetectorMatch> {
  const inPlace = isDockerConfigPath(chunk.path)
  for (const document of jsonObjectsIn(chunk.text)) {
    const auths = member(document, 'auths')
    if (auths?.kind === 'object') {
      for (const registry of auths.entries) yield* registryEntryCredentials(registry.value)
    } else if (inPlace && fileNameOf(chunk.path) === '.dockercfg') {
      // the legacy format: registries at the top level
      for (const registry of document.entries) yield* registryEntryCredentials(registry.value)
    }
  }
}

// --- kubeconfig ---

const KUBE_SECRET_KEYS = new Set(['token', 'password', 'client-key-data', 'id-token', 'refresh-token', 'client-secret', 'access-token'])

const isKubeconfig = (chunk: ScanChunk): boolean =>
  pathEndsWith(chunk.path, '.kube', 'config') ||
  /(?:^|\.)kubeconfig(?:\.ya?ml)?$/.test(fileNameOf(chunk.path)) ||
  (hasLine(chunk.text, 'kind:', /^kind:[ \t]*["']?Config["']?[ \t]*$/) && hasLine(chunk.text, 'apiVersion:', /^apiVersion:[ \t]*["']?v1["']?[ \t]*$/))

/** base64 of a PEM private key -> the PEM */
const pemOfKeyData = (data: string): string | undefined => {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) return undefined
  const pem = Buffer.from(data, 'base64').toString('utf8').trim()
  return /^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]+-----END [A-Z0-9 ]*PRIVATE KEY-----$/.test(pem) ? pem : undefined
}

function* kubeconfigCredentials(chunk: ScanChunk): Iterable<DetectorMatch> {
  if (!isKubeconfig(chunk)) return
  let inUsers = false
  for (const line of linesOf(chunk.text)) {
    if (/^[A-Za-z"']/.test(line.text)) {
      inUsers = /^users:/.test(line.text)
      continue
    }
    if (!inUsers) continue
    const entry = /^([ \t]*(?:-[ \t]+)?)([A-Za-z0-9_-]+):[ \t]*(\S.*?)[ \t]*(?:[ \t]#.*)?$/.exec(line.text)
    if (!entry || !KUBE_SECRET_KEYS.has(entry[2])) continue
    const raw = entry[3]
    const found = unquote(raw, line.start + line.text.indexOf(raw, entry[1].length + entry[2].length + 1))
    if (entry[2] === 'client-key-data') {
      const pem = pemOfKeyData(found.value)
      if (pem) yield { value: pem, start: found.start, end: found.end, key: entry[2] }
      continue
    }
    if (credible(found.value, entry[2] === 'password' ? 4 : 8)) yield { value: found.value, start: found.start, end: found.end, key: entry[2] }
  }
}

// --- Terraform CLI credentials ---

const HCL_CREDENTIALS = /^[ \t]*credentials[ \t]+"[^"\n]+"[ \t]*\{[^}]*?\btoken[ \t]*=[ \t]*"(?<token>[^"\n]+)"/gm

function* terraformCredentials(chunk: ScanChunk): Iterable<DetectorMatch> {
  for (const document of jsonObjectsIn(chunk.text)) {
    const hosts = member(document, 'credentials')
    if (hosts?.kind !== 'object') continue
    for (const host of hosts.entries) {
      const token = stringMember(host.value, 'token')
      if (token && credible(token.value, 16)) yield { value: token.value, start: token.start, end: token.end, key: 'token' }
    }
  }
  // .terraformrc / terraform.rc blocks: credentials "app.terraform.io" { token = "..." }
  for (const match of chunk.text.matchAll(HCL_CREDENTIALS)) {
    const token = match.groups?.token ?? ''
    if (!credible(token, 16)) continue
    const start = match.index + match[0].lastIndexOf(token)
    yield { value: token, start, end: start + token.length, key: 'token' }
  }
}

// --- GCP service-account keys ---

function* gcpServiceAccountPrivateKeys(chunk: ScanChunk): Iterable<DetectorMatch> {
  for (const document of jsonObjectsIn(chunk.text)) {
    if (stringMember(document, 'type')?.value !== 'service_account') continue
    const key = stringMember(document, 'private_key')
    if (!key) continue
    const pem = key.value.trim()
    if (!/^-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]{64,}-----END [A-Z ]*PRIVATE KEY-----$/.test(pem)) continue
    // the span runs from the header to the footer as the file writes them (with their \n escapes)
    const raw = chunk.text.slice(key.start, key.end)
    const from = key.start + raw.indexOf('-----BEGIN')
    const to = key.start + raw.lastIndexOf('-----') + 5
    // the id names the key to revoke; it is not a secret, so it rides along in the key, not as a finding
    const id = stringMember(document, 'private_key_id')
    const named = id && /^[0-9a-f]{40}$/.test(id.value) ? ` (private_key_id ${id.value})` : ''
    yield { value: pem, start: from, end: to, key: `private_key${named}` }
  }
}

const PEM_BODY = 'MIIE3zNKCBN4fD0vwDjEf7JUu65sutLocRpOL0Xuzxc4aysLJFkgzWJ5pUulJKKS\niYbKGCCvBxrOEJXg0+z5LgIvHvauhDfkUAV/ltopGj+YLo/wC4Gm4M6xcS9iWigk\n5cBwMWcgtQBjkOpDMmg8NDnt8PBv63qf0OFQCdTWBKHNrpsmqW6a0IyY'
const RSA_PEM = `-----BEGIN RSA PRIVATE KEY-----\n${PEM_BODY}\n-----END RSA PRIVATE KEY-----\n`
const PKCS8_PEM = `-----BEGIN PRIVATE KEY-----\n${PEM_BODY}\n-----END PRIVATE KEY-----\n`
const base64Of = (text: string): string => Buffer.from(text).toString('base64')

const AWS_FILE = '[default]\naws_access_key_id = AKIAZ4TQHL2MVXW7RPNE\naws_secret_access_key = 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\nregion = eu-west-1\n'
const DOCKER_CONFIG = `{\n  "auths": {\n    "registry.acme-corp.io": { "auth": "${base64Of('ci-bot:Xk29fLq8ZtWm4Rv7')}" },\n    "https://index.docker.io/v1/": { "identitytoken": "eyJhbGciOiJSUzI1NiJ9.W9V1FqVbX8RjoVaeow32DayRbGk.RMYzkhHucub0L" }\n  }\n}\n`
const KUBECONFIG = `apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.0.1:6443\n  name: prod\nusers:\n- name: admin\n  user:\n    client-certificate-data: ${base64Of('-----BEGIN CERTIFICATE-----\nMIIBxyz\n-----END CERTIFICATE-----\n')}\n    client-key-data: ${base64Of(RSA_PEM)}\n- name: deployer\n  user:\n    token: kq7Wn2Rd9Xs4Lm1Zx6Vb3Ht8Jy5Gc0Fa\n`

export const structuredCloudFileDetectors: FileFormatDetector[] = [
  defineFileFormatDetector({
    id: 'aws-credentials-file',
    name: 'AWS credentials file',
    description: 'A profile of ~/.aws/credentials or ~/.aws/config: access key id, secret access key and session token, each under its key.',
    confidence: 'high',
    keywords: ['aws_access_key_id', 'aws_secret_access_key', 'aws_session_token', 'aws_security_token'],
    detect: awsCredentialFiles,
    examples: [AWS_FILE, `RUN mkdir -p /root/.aws && printf '[ci]\\naws_access_key_id=AKIA2QWE7RTY5UIOPLKJ\\naws_secret_access_key=Zr4/Tp9Xk2Mw7Qv1Bn5Hs8Ld3Fg6Jc0Ay4Ue9Io+\\n' > /root/.aws/credentials`],
    negatives: ['aws_access_key_id = AKIAZ4TQHL2MVXW7RPNE', '[default]\naws_access_key_id = ${AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}\n', '[localstack]\naws_access_key_id = test\naws_secret_access_key = test\n'],
    fileExamples: [
      { path: 'root/.aws/credentials', text: AWS_FILE },
      { path: 'home/app/.aws/config', text: '[profile deploy]\nregion = us-east-1\naws_access_key_id = AKIA2QWE7RTY5UIOPLKJ\naws_secret_access_key = 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\n' },
    ],
    fileNegatives: [{ path: 'root/.aws/config', text: '[default]\nregion = eu-west-1\noutput = json\n' }],
  }),
  defineFileFormatDetector({
    id: 'docker-config-auth',
    name: 'Docker registry credentials (config.json)',
    description: 'A registry login in ~/.docker/config.json or containers/auth.json: the secret half of a base64 `auth` (user:secret), an identitytoken or a registrytoken.',
    confidence: 'high',
    keywords: ['"auths"', '"identitytoken"', '"registrytoken"', '"auth"'],
    detect: dockerConfigs,
    examples: [DOCKER_CONFIG, `{"auths":{"ghcr.io":{"auth":"${base64Of('octo:W9V1FqVbX8RjoVaeow32DayRbGk')}"}}}`],
    negatives: [
      '{"auths": {"ghcr.io": {}}, "credsStore": "desktop"}',
      `{"auths": {"ghcr.io": {"auth": "${base64Of('user-without-secret')}"}}}`,
      `{"auths": {"ghcr.io": {"auth": "${base64Of('ci:${REGISTRY_PASSWORD}')}"}}}`,
    ],
    fileExamples: [
      { path: 'root/.docker/config.json', text: DOCKER_CONFIG },
      { path: 'root/.dockercfg', text: `{"quay.io": {"auth": "${base64Of('robot:RMYzkhHucub0L+BB02brl3Rk')}", "email": ""}}` },
    ],
    fileNegatives: [{ path: 'root/.docker/config.json', text: '{"credHelpers": {"gcr.io": "gcloud"}, "auths": {}}' }],
  }),
  defineFileFormatDetector({
    id: 'kubeconfig-credential',
    name: 'kubeconfig user credential',
    description: 'A user credential in a kubeconfig (~/.kube/config or any `kind: Config`): bearer token, password, OIDC tokens or a client key (base64 PEM, reported decoded).',
    confidence: 'high',
    keywords: ['kind: config', 'client-key-data', 'kubeconfig', 'users:'],
    detect: kubeconfigCredentials,
    examples: [KUBECONFIG],
    negatives: [
      'apiVersion: v1\nkind: ConfigMap\ndata:\n  token: kq7Wn2Rd9Xs4Lm1Zx6Vb3Ht8Jy5Gc0Fa\n',
      'apiVersion: v1\nkind: Config\nusers:\n- name: gke\n  user:\n    exec:\n      command: gke-gcloud-auth-plugin\n',
    ],
    fileExamples: [
      { path: 'root/.kube/config', text: KUBECONFIG },
      { path: 'etc/rancher/k3s/k3s.kubeconfig', text: 'users:\n- name: default\n  user:\n    password: "Tq9xL2mVr7KzW4pN"\n    username: admin\n' },
    ],
    fileNegatives: [{ path: 'root/.kube/config', text: 'apiVersion: v1\nkind: Config\nusers:\n- name: sa\n  user:\n    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token\n' }],
  }),
  defineFileFormatDetector({
    id: 'terraform-cli-credentials',
    name: 'Terraform CLI credentials',
    description: 'An API token in credentials.tfrc.json or a .terraformrc credentials block (Terraform Cloud, HCP Terraform, private registries).',
    confidence: 'high',
    keywords: ['"credentials"', 'credentials "'],
    detect: terraformCredentials,
    examples: [
      '{\n  "credentials": {\n    "app.terraform.io": {\n      "token": "kq7Wn2Rd9Xs4Lm.atlasv1.Zx6Vb3Ht8Jy5Gc0FaRMYzkhHucub0LBB02brl3RkZKvH8zDwQPNrsy6w"\n    }\n  }\n}\n',
      'credentials "tfe.acme-corp.io" {\n  token = "W9V1FqVbX8RjoVaeow32DayRbGkRMYzkhHuc"\n}\n',
    ],
    negatives: ['{"credentials": {"app.terraform.io": {"token": "${TFE_TOKEN}"}}}', 'credentials_helper "vault" {\n  args = []\n}\n'],
    fileExamples: [{ path: 'root/.terraform.d/credentials.tfrc.json', text: '{"credentials":{"app.terraform.io":{"token":"W9V1FqVbX8RjoVaeow32DayRbGk.atlasv1.RMYzkhHucub0L"}}}' }],
  }),
  defineFileFormatDetector({
    id: 'gcp-service-account-private-key',
    name: 'GCP service-account private key',
    description: 'The private key of a Google Cloud service-account key file, unescaped from its JSON string and reported as one PEM; the key names the private_key_id to revoke.',
    confidence: 'high',
    keywords: ['service_account'],
    detect: gcpServiceAccountPrivateKeys,
    examples: [
      `{\n  "type": "service_account",\n  "project_id": "billing-prod-3321",\n  "private_key_id": "aa2246e2e9a7b227353b7b77ecbcf142f19282cf",\n  "private_key": ${JSON.stringify(PKCS8_PEM)},\n  "client_email": "exporter@billing-prod-3321.iam.gserviceaccount.com"\n}\n`,
    ],
    negatives: [
      '{"type": "service_account", "private_key_id": "aa2246e2e9a7b227353b7b77ecbcf142f19282cf", "private_key": "<your key here>"}',
      `{"type": "authorized_user", "private_key": ${JSON.stringify(PKCS8_PEM)}}`,
    ],
    fileExamples: [{ path: 'secrets/sa.json', text: `{"type":"service_account","private_key":${JSON.stringify(PKCS8_PEM)}}` }],
  }),
]
