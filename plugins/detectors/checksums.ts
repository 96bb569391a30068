/**
 * Offline checksum validators for token formats that carry their own checksum. A token whose
 * checksum does not verify was typed by a person (a placeholder, a doc sample, a test fixture) or
 * damaged in transit; detectors use these to drop such candidates or grade them `low`.
 *
 * Each scheme follows the issuer's own generator:
 * - GitHub `gh[pousr]_`, npm `npm_`, Vercel `vc[pikar]_`: base62(CRC32(random part)), 6 chars, zero-padded.
 * - GitLab routable tokens: base36(CRC32(everything before it)), 7 chars, zero-padded.
 * - Atlassian API tokens and Bitbucket access tokens/app passwords: hex(CRC32(everything before it)), 8 chars.
 * - Grafana service-account tokens: hex of the little-endian bytes of CRC32(`glsa_<secret>`).
 * - Azure "identifiable" keys: a Marvin32 checksum (seeded per service) in the last 4 decoded bytes.
 */

const CRC32_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

const encoder = new TextEncoder()

/** CRC-32 (IEEE 802.3, the zlib one) of a string's UTF-8 bytes or of raw bytes, unsigned. */
export const crc32 = (input: string | Uint8Array): number => {
  const bytes = typeof input === 'string' ? encoder.encode(input) : input
  let crc = 0xffffffff
  for (let i = 0; i < bytes.length; i++) crc = CRC32_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

const BASE62_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/** Unsigned integer in base62 (`0-9A-Za-z`), left-padded with `0` to `width`. */
export const base62Encode = (value: number, width: number): string => {
  let n = value
  let out = ''
  while (n > 0) {
    out = BASE62_ALPHABET[n % 62] + out
    n = Math.floor(n / 62)
  }
  return out.padStart(width, '0')
}

/** Unsigned integer in base36 (`0-9a-z`, Ruby's `to_s(36)`), left-padded with `0` to `width`. */
export const base36Encode = (value: number, width: number): string => value.toString(36).padStart(width, '0')

/**
 * `<prefix><random><checksum>` where checksum = base62(CRC32(random)) in 6 characters: the scheme
 * GitHub introduced in 2021 and npm, Vercel and others copied.
 */
export const hasBase62Crc32Checksum = (token: string, prefixLength: number): boolean => {
  if (token.length <= prefixLength + 6) return false
  const random = token.slice(prefixLength, -6)
  return base62Encode(crc32(random), 6) === token.slice(-6)
}

/** `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` + 30 random + 6 checksum characters. */
export const isValidGitHubToken = (token: string): boolean =>
  /^gh[pousr]_[A-Za-z0-9]{36}$/.test(token) && hasBase62Crc32Checksum(token, 4)

/** `npm_` + 30 random + 6 checksum characters. */
export const isValidNpmToken = (token: string): boolean =>
  /^npm_[A-Za-z0-9]{36}$/.test(token) && hasBase62Crc32Checksum(token, 4)

/** Vercel `vcp_`/`vci_`/`vca_`/`vcr_`/`vck_` + 50 random + 6 checksum characters. */
export const isValidVercelToken = (token: string): boolean =>
  /^vc[pikar]_[A-Za-z0-9_-]{50}[A-Za-z0-9]{6}$/.test(token) && hasBase62Crc32Checksum(token, 4)

/**
 * GitLab routable tokens (GitLab 17.x+): `<prefix><base64url payload>.<version>.<length><crc>` (v1)
 * or `<prefix><payload>.<length><crc>` (v0), where crc = base36(CRC32 of everything before it) in 7
 * characters and length = base36 of the payload length in 2. Legacy 20-character tokens have no
 * checksum: callers only ask this of tokens that have the routable shape.
 */
export const isRoutableGitLabToken = (token: string): boolean => /\.[0-9a-z]{2}(?:\.[0-9a-z]{2})?[0-9a-z]{7}$/.test(token)

export const isValidGitLabRoutableToken = (token: string): boolean => {
  const parts = /^(?<head>.+?)\.(?:(?<version>[0-9a-z]{2})\.)?(?<length>[0-9a-z]{2})(?<crc>[0-9a-z]{7})$/.exec(token)
  if (!parts?.groups) return false
  const { head, length, crc } = parts.groups
  if (base36Encode(crc32(token.slice(0, -7)), 7) !== crc) return false
  // the length field counts the base64 payload, which follows the prefix (`glpat-`, `glrt-t1_`...)
  const payloadLength = Number.parseInt(length, 36)
  return payloadLength > 0 && payloadLength < head.length
}

/**
 * Atlassian API tokens (`ATATT3...=XXXXXXXX`), Bitbucket access tokens (`ATCTT3...=XXXXXXXX`) and
 * app passwords (`ATBB...XXXXXXXX`): the last 8 hex characters are CRC32 of everything before them.
 */
export const isValidAtlassianToken = (token: string): boolean => {
  if (!/^AT[A-Za-z0-9_=.-]+[0-9A-Fa-f]{8}$/.test(token)) return false
  const expected = crc32(token.slice(0, -8)).toString(16).padStart(8, '0')
  return expected === token.slice(-8).toLowerCase()
}

/** Grafana service-account token `glsa_<32 alnum>_<8 hex>`: CRC32 of `glsa_<32>` as little-endian hex. */
export const isValidGrafanaServiceAccountToken = (token: string): boolean => {
  const parts = /^(glsa_[A-Za-z0-9]{32})_([0-9a-f]{8})$/.exec(token)
  if (!parts) return false
  const crc = crc32(parts[1])
  const littleEndian = [crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, (crc >>> 24) & 0xff]
  return littleEndian.map((byte) => byte.toString(16).padStart(2, '0')).join('') === parts[2]
}

// --- Marvin32 (Microsoft's seeded checksum, as in SymCrypt and .NET) ---

const rotl = (value: number, shift: number): number => ((value << shift) | (value >>> (32 - shift))) >>> 0

const marvinBlock = (state: [number, number]): void => {
  let [p0, p1] = state
  p1 = (p1 ^ p0) >>> 0
  p0 = rotl(p0, 20)
  p0 = (p0 + p1) >>> 0
  p1 = rotl(p1, 9)
  p1 = (p1 ^ p0) >>> 0
  p0 = rotl(p0, 27)
  p0 = (p0 + p1) >>> 0
  p1 = rotl(p1, 19)
  state[0] = p0
  state[1] = p1
}

/** Marvin32 of `data` under a 64-bit seed: the 64-bit result as `[high, low]` unsigned halves. */
export const marvin64 = (data: Uint8Array, seed: bigint): [number, number] => {
  const state: [number, number] = [Number(seed & 0xffffffffn), Number((seed >> 32n) & 0xffffffffn)]
  const whole = data.length - (data.length % 4)
  for (let i = 0; i < whole; i += 4) {
    const word = (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) >>> 0
    state[0] = (state[0] + word) >>> 0
    marvinBlock(state)
  }
  const rest = data.length - whole
  let last = 0x80
  if (rest === 1) last = 0x8000 | data[whole]
  else if (rest === 2) last = 0x800000 | data[whole] | (data[whole + 1] << 8)
  else if (rest === 3) last = (0x80000000 | (data[whole + 2] << 16) | data[whole] | (data[whole + 1] << 8)) >>> 0
  state[0] = (state[0] + last) >>> 0
  marvinBlock(state)
  marvinBlock(state)
  return [state[1], state[0]]
}

/** The 64-bit Marvin hash folded to 32 bits (high XOR low), unsigned. */
export const marvin32 = (data: Uint8Array, seed: bigint): number => {
  const [high, low] = marvin64(data, seed)
  return (high ^ low) >>> 0
}

const BASE64_VALUES: Int8Array = (() => {
  const values = new Int8Array(128).fill(-1)
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  for (let i = 0; i < alphabet.length; i++) values[alphabet.charCodeAt(i)] = i
  values['-'.charCodeAt(0)] = 62
  values['_'.charCodeAt(0)] = 63
  return values
})()

/** Standard or URL-safe base64, padding optional; undefined when a character is not base64. */
export const decodeBase64 = (text: string): Uint8Array | undefined => {
  const clean = text.replace(/=+$/, '')
  const out = new Uint8Array(Math.floor((clean.length * 6) / 8))
  let buffer = 0
  let bits = 0
  let index = 0
  for (let i = 0; i < clean.length; i++) {
    const code = clean.charCodeAt(i)
    const value = code < 128 ? BASE64_VALUES[code] : -1
    if (value < 0) return undefined
    buffer = ((buffer << 6) | value) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[index++] = (buffer >>> bits) & 0xff
    }
  }
  return out
}

/**
 * Azure "identifiable" keys: base64 text whose decoded bytes end with a 4-byte little-endian
 * Marvin32 checksum of the bytes before it, and whose text carries the service signature (`+ASt`,
 * `AzFu`, `ACDb`...) just before the encoded checksum. Any of the service's seeds may have made it.
 */
export const isValidAzureIdentifiableKey = (key: string, signature: string, seeds: readonly bigint[]): boolean => {
  if (!key.includes(signature)) return false
  const bytes = decodeBase64(key)
  if (!bytes || bytes.length < 8) return false
  const body = bytes.subarray(0, bytes.length - 4)
  const tail = bytes.subarray(bytes.length - 4)
  const expected = (tail[0] | (tail[1] << 8) | (tail[2] << 16) | (tail[3] << 24)) >>> 0
  return seeds.some((seed) => marvin32(body, seed) === expected)
}

/** Checksum seeds per Azure service, as published in microsoft/security-utilities. */
export const AZURE_CHECKSUM_SEEDS = {
  storage: [0x44656661756c7430n],
  cosmosDb: [0x4d617374524f3030n, 0x4d61737452573030n, 0x537973416c6c3030n, 0x5265736f75723030n],
  functions: [0x46756e6374693030n, 0x53797374656d3030n, 0x4d61737465723030n],
  messaging: [0x53656e6430303030n, 0x4c697374656e3030n, 0x4d616e6167653030n, 0x53797374656d3030n],
  batch: [0x4162416363743030n],
  cacheForRedis: [0x4163636573733030n],
  search: [0x5175657279303030n, 0x5041646d696e3030n],
  containerRegistry: [0x41435244666c7430n],
  apiManagement: [0x54656e616e743030n, 0x496f544875623030n, 0x4761746577793030n, 0x4769744b65793030n],
  iot: [0x496f544875623030n, 0x4470734b65793030n, 0x4465766963653030n],
  machineLearning: [0x436c617373696330n],
} as const
