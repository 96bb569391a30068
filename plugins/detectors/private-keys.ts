/**
 * Private keys: PEM (PKCS#1 RSA, SEC1 EC, DSA, PKCS#8, encrypted PKCS#8, any other `… PRIVATE KEY`),
 * OpenSSH, SSH2 (Tectia), PuTTY .ppk, OpenPGP secret key blocks and age identities. The value is the
 * whole block, header to footer. Blocks are found in files, in JSON strings (`\n` escapes) and in
 * indented YAML; binary files are searched too, since keys get embedded in executables and keystores.
 * Public keys and certificates never match: every header here says PRIVATE or SECRET.
 *
 * A key protected by a passphrase (PEM Proc-Type ENCRYPTED, encrypted PKCS#8, OpenSSH or PuTTY with a
 * cipher, a protected OpenPGP secret key) is graded medium: it still needs the passphrase.
 */
import { Buffer } from 'node:buffer'
import { shannonEntropy } from '../../core/entropy.ts'
import type { Confidence } from '../../core/result.ts'
import type { Detector } from '../../core/contracts.ts'
import { type DetectorDefinition, defineDetector } from '../../core/detector.ts'

// --- what a block's body must look like ---

/**
 * The base64 payload of an armored body: escapes (`\n` in JSON, `\\n` double-escaped) become line
 * breaks, `Key: value` header lines and an OpenPGP `=XXXX` checksum line are dropped, whitespace
 * goes. Undefined when what is left is not base64.
 */
const armoredPayload = (body: string): string | undefined => {
  const lines = body
    .replace(/(?:\\+[rn])+/g, '\n')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !/^[A-Za-z][A-Za-z0-9-]*:\s/.test(line) && !/^=[A-Za-z0-9+/]{4}$/.test(line))
  const payload = lines.join('').replace(/\s+/g, '')
  return /^[A-Za-z0-9+/]+={0,2}$/.test(payload) ? payload : undefined
}

/** At least 64 characters of random-looking base64: `MIIE...`, `<your key>` and `xxxx` are not keys. */
const keyPayload = (body: string): string | undefined => {
  const payload = armoredPayload(body)
  if (!payload || payload.length < 64 || shannonEntropy(payload) < 4.5) return undefined
  return payload
}

const bodyOf = (match: RegExpExecArray): string => match.groups?.body ?? ''

/** PKCS#1 / SEC1 / DSA PEM: `Proc-Type: 4,ENCRYPTED` means a passphrase protects it. */
const gradeLegacyPem = (_value: string, match: RegExpExecArray): boolean | Confidence => {
  const body = bodyOf(match)
  if (!keyPayload(body)) return false
  return /Proc-Type:\s*4,\s*ENCRYPTED/i.test(body) ? 'medium' : true
}

const hasKeyPayload = (_value: string, match: RegExpExecArray): boolean => keyPayload(bodyOf(match)) !== undefined

const OPENSSH_MAGIC = 'openssh-key-v1\0'

/** OpenSSH keys name their cipher right after the magic: `none` is a bare key. */
const gradeOpenSsh = (_value: string, match: RegExpExecArray): boolean | Confidence => {
  const payload = keyPayload(bodyOf(match))
  if (!payload) return false
  const bytes = Buffer.from(payload, 'base64')
  if (bytes.subarray(0, OPENSSH_MAGIC.length).toString('latin1') !== OPENSSH_MAGIC) return 'low'
  const at = OPENSSH_MAGIC.length
  const cipherLength = bytes.length >= at + 4 ? bytes.readUInt32BE(at) : 0
  const cipher = bytes.subarray(at + 4, at + 4 + cipherLength).toString('latin1')
  return cipher === 'none' ? true : 'medium'
}

/**
 * Whether the first secret-key packet of an OpenPGP message protects its key material: after the v4
 * public-key fields comes the S2K usage octet, 0 for a bare key. Undefined when the packet cannot be
 * read (other versions, unknown algorithms, truncated data).
 */
const openPgpKeyProtected = (bytes: Uint8Array): boolean | undefined => {
  const first = bytes[0]
  if (first === undefined || (first & 0x80) === 0) return undefined
  let tag: number
  let at: number
  if (first & 0x40) {
    tag = first & 0x3f
    const length = bytes[1]
    at = length < 192 ? 2 : length < 224 ? 3 : length === 255 ? 6 : 2
  } else {
    tag = (first >> 2) & 0x0f
    at = 1 + [1, 2, 4, 0][first & 0x03]
  }
  if (tag !== 5 && tag !== 7) return undefined
  if (bytes[at] !== 4) return undefined
  const algorithm = bytes[at + 5]
  let position = at + 6
  const mpi = () => {
    position += 2 + Math.ceil(((bytes[position] << 8) | bytes[position + 1]) / 8)
  }
  const oid = () => {
    position += 1 + bytes[position]
  }
  if (algorithm === 1 || algorithm === 2 || algorithm === 3) [mpi, mpi].forEach((read) => read())
  else if (algorithm === 16) [mpi, mpi, mpi].forEach((read) => read())
  else if (algorithm === 17) [mpi, mpi, mpi, mpi].forEach((read) => read())
  else if (algorithm === 19 || algorithm === 22) [oid, mpi].forEach((read) => read())
  else if (algorithm === 18) {
    oid()
    mpi()
    position += 1 + bytes[position] // KDF parameters
  } else return undefined
  const usage = bytes[position]
  return usage === undefined ? undefined : usage !== 0
}

const gradeOpenPgp = (_value: string, match: RegExpExecArray): boolean | Confidence => {
  const payload = keyPayload(bodyOf(match))
  if (!payload) return false
  return openPgpKeyProtected(Buffer.from(payload, 'base64')) === true ? 'medium' : true
}

const gradePutty = (_value: string, match: RegExpExecArray): boolean | Confidence => {
  if (!keyPayload(`${match.groups?.publicLines ?? ''}${match.groups?.body ?? ''}`)) return false
  return match.groups?.encryption === 'none' ? true : 'medium'
}

// --- age: bech32 with the age-secret-key- human-readable part ---

const BECH32_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l'
const BECH32_GENERATORS = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]

const bech32Polymod = (values: number[]): number => {
  let checksum = 1
  for (const value of values) {
    const top = checksum >>> 25
    checksum = ((checksum & 0x1ffffff) << 5) ^ value
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) checksum ^= BECH32_GENERATORS[i]
  }
  return checksum
}

/** An age identity's bech32 checksum: a typed or truncated key fails it. */
const isValidAgeSecretKey = (key: string): boolean => {
  const lower = key.toLowerCase()
  const separator = lower.lastIndexOf('1')
  const hrp = lower.slice(0, separator)
  const data = [...lower.slice(separator + 1)].map((char) => BECH32_CHARSET.indexOf(char))
  if (data.some((value) => value < 0)) return false
  const expanded = [...[...hrp].map((char) => char.charCodeAt(0) >> 5), 0, ...[...hrp].map((char) => char.charCodeAt(0) & 31)]
  return bech32Polymod([...expanded, ...data]) === 1
}

// --- patterns ---

/**
 * Blocks are longer than the default keyword window, and their footer is a keyword hit too: the
 * window around either end must reach the other (PEM bodies stop at 16 KB, OpenPGP blocks at 64 KB).
 */
const PEM_REACH = 20_000
const PGP_REACH = 70_000

/**
 * base64, whitespace, JSON escapes and the characters of `Proc-Type:` / `DEK-Info:` headers; never
 * five dashes, so a body cannot run into the next block (and a run of bare headers costs nothing)
 */
const PEM_BODY = '(?:[A-Za-z0-9+/=\\s:,\\\\]|-(?!----)){64,16384}?'

const pemPattern = (label: string): RegExp =>
  new RegExp(`(?<secret>-----BEGIN ${label}-----(?<body>${PEM_BODY})-----END ${label}-----)`)

/** Examples are assembled so that no complete header sits in this file (see messaging.ts). */
const pem = (label: string, body: string, headers = ''): string =>
  `${'-----BEGIN '}${label}-----\n${headers}${body}\n${'-----END '}${label}-----`

const RSA_BODY = `MIIEpAIBAAKCAQEAaMtNn6Sh5KpViwj4pzQ2CqDbeimk09Q8xSSFQNiKyRZV/Q2Q
w3x9BSepafSahRcHwC3DzqWoJU80xHgqJc3HwjWy+LMK+OSMvYgKBhe/GHLbk8gY
BaBa8o/0vlSmyw1f6V9lAKc1Dr4lMk6F6aUm+FDWs95R2YExR/JICw8dKBUa/pIT
9qY092t4f3T/2oNYt/3fjIMJBOCc2ur+7x/mB6aqsV7LODikCktifxb1udbSmDZK
PqtfkJu7QqwMJRRCF68PjQ24jscktOVv83logl/iE4votwbbJcgHoD06QmOJyBVa
u4A=`
const EC_BODY = `MHcCAQEEINPEWeUqWFv68X2pW/R576papZ0rXk33VBz5A6oBLMZozt1H5sQwXDyl
wcW7bzhzwSPShxt6rOp+YQqXNOQ6nbIrqETFEIX19vmatTGUzccL2Wg40cVwaBpI
/2wBGRvPOqaRztQzZXw+KwbGxywX`
const DSA_BODY = `MIIBuwIBAAKBFBOwBCjXfqf9Pfgm9Q1Lu+LHcp2KYiMJAg882oVFg128s0YO1rPD
zA9bxQ0LV6TUSj0MNLPwC+5JjSD6wNY16tiV6TRPlJrNjxcg4Aq2cJuMkz8ftbbp
bnKpvLha6/N17T5TF49tL7xnoSH34xgkimRTnkXJdh7snbS9YL9MNjBNu9ZO0+Oo
34B6YpPg3PKy5r1fEpywxL+iLPNnMBC/XlrPZBGbe1fwU9sdBl0yDe0PMtOSJaF4
U+VMLXbmhYLFPpm06BqZzPA=`
const PKCS8_ED25519_BODY = 'MC4CAQAwBQYDK2VwBCIEIICTU6XqgqJKTumSR3D4lUsfQEHLRD0DaVaAfv0Ljn6P'
const PKCS8_ENCRYPTED_BODY = `MIGHMD8GCSqGSIb3DQEFDTAyahJQcCGbta2Xr5CsSzOxoisQRRSYWYJ43PhdVCua
vJZCRFfrVmqez+24luRVsOfE7urPGz8b+uMbD0YDpaFhx+bg8rre3eFgPWBHvqvC
045oWWFVz0BOYLncS6csaIW4dr0u86/RjzNIdQkWOdmtSI/TpA40gRht`
const OPENSSH_BARE_BODY = `b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtz
c2gtZWQyNTUxOQAAACCoDNeNdeF3ulpq84Aono9iE9YLq90Qu7a82B9E83fkNQAA
AIhGzSt+0/0VTPV0hSigyqjcJqarJ5UeK5rv6d4HgmRPuf3NJnjFCgN5UHdUfeKp
PlFbQ0uhtxvJMEeuY/akHC+qczimKQ6ytiI6XjLQBnoHKchZhQNcFbDPdqHj9y/W
HkXZPcoY7ahrJY+r+Rk6zaaDMCNWml6j2CrLy/fKIi2XsBGZzOG3wrqI`
const OPENSSH_ENCRYPTED_BODY = `b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABC6
TxuwNgYTD6o35unu78THAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIPGK
jfsh/h7NMbJb9qulTuvnF/CHKyWYEHGq35Pz2qy+AAAAkDe0uHqxy7qs2blAE4mP
JietURNaTxtOduN4X2K3nWW+HVPj1bSHR9ZW/M+i0z3le/UwbMPRhOSnzqIZQPvZ
dnfnKHfLsqcarnUW7MWKUSnUfpswfQZckrwuyDnErxcoYJzZyGfnSHeDr/tPmGkq
hSnyyiCibozhSaw1ypZHfY55JWUfLf6Fd2dKE0xSxf1tIw==`
const PGP_BARE_BODY = `xVgEZlRKABYJKwYBBAHaRw8BAQdAwxdXxi5h6D4Jb0J9lGpu/dqsrYX08SUJgcuG
OWdpUF0AAP8oDfDxEoPAAAEaszm/qrYHEP8+rf/otOCXYUTW0P/gmy+KzR1CdWls
ZCBCb3QgPGJ1aWxkQGV4YW1wbGUuY29tPg==`
const PGP_PROTECTED_BODY = `xYwEZlRKABYJKwYBBAHaRw8BAQdAewmK8kgs36NLhqB7/CwC/Rt9K7afCHmy52zm
lrRX6AH+CQMIrXxCef3r99L8PaENAdvwP9MdL+CYXo3+Zi9IRM/z9ZjOhXU2789N
TmlUylgeJTSUuxbH5XlFjWPZ9GrOCURDjxXa5cWBg7q4+pFEl34UKXcuzhE7xs0d
QnVpbGQgQm90IDxidWlsZEBleGFtcGxlLmNvbT4=`
const PUBLIC_KEY_BODY = `MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo
4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u
+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyeh`

const putty = (encryption: string, comment: string, publicLines: string, privateLines: string): string => {
  const count = (lines: string) => lines.split('\n').length
  return [
    'PuTTY-User-Key-File-' + '3: ssh-ed25519',
    `Encryption: ${encryption}`,
    `Comment: ${comment}`,
    `Public-Lines: ${count(publicLines)}`,
    publicLines,
    ...(encryption === 'none' ? [] : ['Key-Derivation: Argon2id', 'Argon2-Memory: 8192', 'Argon2-Passes: 13', 'Argon2-Parallelism: 1', 'Argon2-Salt: 5d3e6b9a1c2f4e8d7a6b5c4d3e2f1a0b']),
    `Private-Lines: ${count(privateLines)}`,
    privateLines,
    'Private-MAC: 277f5b13e90afa4b0361bbd25a3fe5bfa0d21d6076c1fc8486c5daa2f70303c0',
  ].join('\n')
}
const PUTTY_PUBLIC = 'AAAAC3NzaC1lZDI1NTE5AAAAID234XUeOJZ3ODsfTapJDVgJLENwlqLhlrCNWwLI\nIawG'
const PUTTY_PRIVATE = 'AAAAIGF7UMtbIZTE9JWdi1sxN8v89kpgbi0pEIr+wDm+mb6n'

/** what must never match as a private key */
const PUBLIC_MATERIAL = [
  pem('PUBLIC KEY', PUBLIC_KEY_BODY),
  pem('RSA PUBLIC KEY', PUBLIC_KEY_BODY),
  pem('CERTIFICATE', PUBLIC_KEY_BODY),
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID234XUeOJZ3ODsfTapJDVgJLENwlqLhlrCNWwLIIawG deploy@ci',
]

export const privateKeyDetectors: DetectorDefinition[] = [
  defineDetector({
    context: { before: PEM_REACH, after: PEM_REACH },
    id: 'private-key-rsa',
    name: 'RSA private key (PKCS#1 PEM)',
    description: 'A PEM RSA private key (BEGIN RSA PRIVATE KEY); graded medium when Proc-Type says it is encrypted.',
    confidence: 'high',
    keywords: ['rsa private key'],
    binary: true,
    pattern: pemPattern('RSA PRIVATE KEY'),
    validate: gradeLegacyPem,
    examples: [
      pem('RSA PRIVATE KEY', RSA_BODY),
      // a JSON string with \n escapes, as in service-account and CI files
      JSON.stringify({ tls_key: pem('RSA PRIVATE KEY', RSA_BODY) }),
      // YAML block scalar, indented
      `tls.key: |\n  ${pem('RSA PRIVATE KEY', RSA_BODY).split('\n').join('\n  ')}\n`,
      pem('RSA PRIVATE KEY', RSA_BODY, 'Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,2AF25325A9B286F4CBD8F97BEC4F5DD9\n\n'),
    ],
    negatives: [
      ...PUBLIC_MATERIAL,
      pem('RSA PRIVATE KEY', 'MIIEpAIBAAKCAQEA...'),
      pem('RSA PRIVATE KEY', 'x'.repeat(64)),
      'ssh-keygen writes -----BEGIN RSA PRIVATE KEY----- blocks; paste yours below.',
      // footer of another type
      pem('RSA PRIVATE KEY', RSA_BODY).replace(/END RSA/, 'END EC'),
    ],
  }),
  defineDetector({
    context: { before: PEM_REACH, after: PEM_REACH },
    id: 'private-key-ec',
    name: 'EC private key (SEC1 PEM)',
    description: 'A PEM elliptic-curve private key (BEGIN EC PRIVATE KEY); graded medium when encrypted.',
    confidence: 'high',
    keywords: ['ec private key'],
    binary: true,
    pattern: pemPattern('EC PRIVATE KEY'),
    validate: gradeLegacyPem,
    examples: [pem('EC PRIVATE KEY', EC_BODY), `ENV JWT_SIGNING_KEY="${pem('EC PRIVATE KEY', EC_BODY).replace(/\n/g, '\\n')}"`],
    negatives: [...PUBLIC_MATERIAL, pem('EC PARAMETERS', 'BggqhkjOPQMBBw=='), pem('EC PRIVATE KEY', '<your EC key>')],
  }),
  defineDetector({
    context: { before: PEM_REACH, after: PEM_REACH },
    id: 'private-key-dsa',
    name: 'DSA private key (PEM)',
    description: 'A PEM DSA private key (BEGIN DSA PRIVATE KEY); graded medium when encrypted.',
    confidence: 'high',
    keywords: ['dsa private key'],
    binary: true,
    pattern: pemPattern('DSA PRIVATE KEY'),
    validate: gradeLegacyPem,
    examples: [pem('DSA PRIVATE KEY', DSA_BODY)],
    negatives: [...PUBLIC_MATERIAL, pem('DSA PRIVATE KEY', 'AAAA')],
  }),
  defineDetector({
    context: { before: PEM_REACH, after: PEM_REACH },
    id: 'private-key-pkcs8',
    name: 'Private key (PKCS#8 PEM)',
    description: 'An unencrypted PKCS#8 PEM private key (BEGIN PRIVATE KEY): RSA, EC, Ed25519 or any other algorithm.',
    confidence: 'high',
    keywords: ['begin private key'],
    binary: true,
    pattern: pemPattern('PRIVATE KEY'),
    validate: hasKeyPayload,
    examples: [pem('PRIVATE KEY', PKCS8_ED25519_BODY), `"private_key": "${pem('PRIVATE KEY', RSA_BODY).replace(/\n/g, '\\n')}\\n",`],
    negatives: [...PUBLIC_MATERIAL, pem('PRIVATE KEY', '...'), pem('PRIVATE KEY', 'REDACTED'.repeat(10))],
  }),
  defineDetector({
    context: { before: PEM_REACH, after: PEM_REACH },
    id: 'private-key-pkcs8-encrypted',
    name: 'Encrypted private key (PKCS#8 PEM)',
    description: 'A passphrase-encrypted PKCS#8 PEM private key (BEGIN ENCRYPTED PRIVATE KEY): useless without the passphrase, which often sits nearby.',
    confidence: 'medium',
    keywords: ['encrypted private key'],
    binary: true,
    pattern: pemPattern('ENCRYPTED PRIVATE KEY'),
    validate: hasKeyPayload,
    examples: [pem('ENCRYPTED PRIVATE KEY', PKCS8_ENCRYPTED_BODY)],
    negatives: [...PUBLIC_MATERIAL, pem('ENCRYPTED PRIVATE KEY', 'MIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI...')],
  }),
  defineDetector({
    context: { before: PEM_REACH, after: PEM_REACH },
    id: 'private-key-openssh',
    name: 'OpenSSH private key',
    description: 'An OpenSSH private key (BEGIN OPENSSH PRIVATE KEY); medium when a cipher protects it, low when the body is not an OpenSSH key.',
    confidence: 'high',
    keywords: ['openssh private key'],
    binary: true,
    pattern: pemPattern('OPENSSH PRIVATE KEY'),
    validate: gradeOpenSsh,
    examples: [pem('OPENSSH PRIVATE KEY', OPENSSH_BARE_BODY), pem('OPENSSH PRIVATE KEY', OPENSSH_ENCRYPTED_BODY)],
    negatives: [...PUBLIC_MATERIAL, pem('OPENSSH PRIVATE KEY', 'b3BlbnNzaC1rZXktdjEAAAAA...')],
  }),
  defineDetector({
    context: { before: PEM_REACH, after: PEM_REACH },
    id: 'private-key-pem',
    name: 'Private key (other PEM type)',
    description: 'A PEM block of any other private-key type (BEGIN X25519 PRIVATE KEY, BEGIN DH PRIVATE KEY…), with a matching footer.',
    confidence: 'high',
    keywords: ['private key-----'],
    binary: true,
    pattern: new RegExp(
      `(?<secret>-----BEGIN (?!(?:RSA|EC|DSA|OPENSSH|ENCRYPTED) PRIVATE)(?<label>[A-Z0-9]+(?: [A-Z0-9]+){0,3}) PRIVATE KEY-----(?<body>${PEM_BODY})-----END \\k<label> PRIVATE KEY-----)`,
    ),
    validate: hasKeyPayload,
    examples: [pem('X25519 PRIVATE KEY', 'MC4CAQAwBQYDK2VuBCIEIOnj5L8csrdbqOtOhdlm2wRJuQQdj998wP67l7ZwZW6B'), pem('ANY PRIVATE KEY', EC_BODY)],
    negatives: [...PUBLIC_MATERIAL, pem('RSA PRIVATE KEY', RSA_BODY), pem('X25519 PRIVATE KEY', 'MC4CAQAwBQYDK2VuBCIE')],
  }),
  defineDetector({
    context: { before: PEM_REACH, after: PEM_REACH },
    id: 'private-key-ssh2',
    name: 'SSH2 (Tectia) private key',
    description: 'An SSH Communications Security / Tectia private key (---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----), often with cipher none despite its name.',
    confidence: 'medium',
    keywords: ['begin ssh2 encrypted private key'],
    binary: true,
    pattern: /(?<secret>---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----(?<body>(?:[A-Za-z0-9+/=\s:,"\\]|-(?!---)){64,16384}?)---- END SSH2 ENCRYPTED PRIVATE KEY ----)/,
    validate: hasKeyPayload,
    examples: ['---- BEGIN SSH2 ' + `ENCRYPTED PRIVATE KEY ----\nComment: "rsa-key-20240527"\n${RSA_BODY}\n---- END SSH2 ENCRYPTED PRIVATE KEY ----`],
    negatives: ['---- BEGIN SSH2 PUBLIC KEY ----\nComment: "rsa-key-20240527"\nAAAAB3NzaC1yc2EAAAADAQABAAABAQC7VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1G\n---- END SSH2 PUBLIC KEY ----'],
  }),
  defineDetector({
    context: { before: PEM_REACH, after: PEM_REACH },
    id: 'putty-private-key',
    name: 'PuTTY private key (.ppk)',
    description: 'A PuTTY private key file (PuTTY-User-Key-File-2/3 with Private-Lines); medium when a passphrase encrypts it.',
    confidence: 'high',
    keywords: ['putty-user-key-file-'],
    binary: true,
    pattern:
      /(?<secret>PuTTY-User-Key-File-[23]: [^\r\n]{3,64}\r?\nEncryption: (?<encryption>[^\r\n]{1,32})\r?\nComment: [^\r\n]{0,256}\r?\nPublic-Lines: \d{1,3}\r?\n(?<publicLines>(?:[A-Za-z0-9+/=]{1,64}\r?\n){1,64})(?:[A-Za-z0-9-]{1,32}: [^\r\n]{1,128}\r?\n){0,8}Private-Lines: \d{1,3}\r?\n(?<body>(?:[A-Za-z0-9+/=]{1,64}\r?\n){1,64})Private-(?:MAC|Hash): [0-9a-f]{40,64})/,
    validate: gradePutty,
    examples: [putty('none', 'deploy@build', PUTTY_PUBLIC, PUTTY_PRIVATE), putty('aes256-cbc', 'admin key', PUTTY_PUBLIC, PUTTY_PRIVATE)],
    negatives: [
      ...PUBLIC_MATERIAL,
      // the public half PuTTYgen exports
      '---- BEGIN SSH2 PUBLIC KEY ----\nComment: "deploy@build"\nAAAAC3NzaC1lZDI1NTE5AAAAID234XUeOJZ3ODsfTapJDVgJLENwlqLhlrCNWwLIIawG\n---- END SSH2 PUBLIC KEY ----',
      'PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: x\nPublic-Lines: 1\nAAAA\nPrivate-Lines: 1\nAAAA\nPrivate-MAC: 0000000000000000000000000000000000000000',
    ],
  }),
  defineDetector({
    context: { before: PGP_REACH, after: PGP_REACH },
    id: 'pgp-private-key-block',
    name: 'OpenPGP private key block',
    description: 'An ASCII-armored OpenPGP secret key (BEGIN PGP PRIVATE KEY BLOCK); medium when its key material is passphrase-protected.',
    confidence: 'high',
    keywords: ['pgp private key block'],
    binary: true,
    pattern: /(?<secret>-----BEGIN PGP PRIVATE KEY BLOCK-----(?<body>[\s\S]{64,65536}?)-----END PGP PRIVATE KEY BLOCK-----)/,
    validate: gradeOpenPgp,
    examples: [
      pem('PGP PRIVATE KEY BLOCK', `${PGP_BARE_BODY}\n=Zx8k`, 'Comment: signing key for release builds\n\n'),
      pem('PGP PRIVATE KEY BLOCK', `${PGP_PROTECTED_BODY}\n=9aQe`, '\n'),
    ],
    negatives: [
      pem('PGP PUBLIC KEY BLOCK', PGP_BARE_BODY),
      pem('PGP PRIVATE KEY BLOCK', '...your exported key here...'),
      pem('PGP SIGNATURE', PGP_BARE_BODY),
    ],
  }),
  defineDetector({
    id: 'age-secret-key',
    name: 'age secret key',
    description: 'An age encryption identity (AGE-SECRET-KEY-1 + bech32): decrypts every file encrypted to it. A failed bech32 checksum grades it low.',
    confidence: 'high',
    keywords: ['age-secret-key-1'],
    binary: true,
    pattern: /(?<![A-Za-z0-9-])(?<secret>AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})(?![A-Za-z0-9])/,
    validate: (value) => isValidAgeSecretKey(value) || 'low',
    examples: [
      '# created: 2024-05-27T10:00:00Z\n# public key: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n' + 'AGE-SECRET-KEY-' + '1T2Q324W6TJZTEHGFFK05FHY3PF5VYMAZ5KKG9GPDA9GSQP0UQS4QS2GGUP',
      'SOPS_AGE_KEY=' + 'AGE-SECRET-KEY-' + '1T2Q324W6TJZTEHGFFK05FHY3PF5VYMAZ5KKG9GPDA9GSQP0UQS4QS2GGUP',
    ],
    negatives: ['age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p', 'AGE-SECRET-KEY-1XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX', 'AGE-SECRET-KEY-1...'],
  }),
]
