/**
 * Base64 inside text: Kubernetes Secrets, CI variables, `data:` URIs, `echo … | base64 -d` in build
 * steps hide secrets from every detector, keywords included. A run of 32 or more base64 or base64url
 * characters that decodes to mostly printable text is handed back to be scanned once more (never
 * decoded again: depth 1), and only a bounded number of them per file.
 *
 * Finding the runs must cost next to nothing on text that has none: instead of looking at every
 * byte, the search probes one byte in MIN_RUN. Any run of MIN_RUN characters covers a probe; where a
 * probe lands on a base64 character, the search reads back to the start of its run and then one
 * byte MIN_RUN - 1 further, which in ordinary text ends the matter. Source code is the worst case
 * (identifiers are base64 runs too): bench/scan-throughput.bench.ts measures it.
 */
import { Buffer } from 'node:buffer'

/** shortest run worth decoding: 24 bytes of text, shorter than any secret with its key */
export const MIN_RUN = 32
/** runs decoded (and scanned again) per file at most */
export const MAX_BLOBS_PER_FILE = 64
/** decoded bytes per file at most */
export const MAX_DECODED_BYTES_PER_FILE = 1024 * 1024
/** runs looked at per file at most (PEM bodies and hashes are runs too, and are rejected one by one) */
const MAX_RUNS_PER_FILE = 4096
/** characters decoded to judge a run before decoding all of it */
const SAMPLE_CHARACTERS = 48

const STANDARD = 1
const URL_SAFE = 2
/** byte -> STANDARD | URL_SAFE bits: 3 for characters both alphabets share */
const ALPHABET = new Uint8Array(256)
for (const char of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789') ALPHABET[char.charCodeAt(0)] = STANDARD | URL_SAFE
ALPHABET['+'.charCodeAt(0)] = STANDARD
ALPHABET['/'.charCodeAt(0)] = STANDARD
ALPHABET['-'.charCodeAt(0)] = URL_SAFE
ALPHABET['_'.charCodeAt(0)] = URL_SAFE
const EQUALS = 0x3d

/** base64 value of a character code, -1 when not in either alphabet */
const VALUE = new Int8Array(256).fill(-1)
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'.split('').forEach((char, i) => {
  VALUE[char.charCodeAt(0)] = i
})
VALUE['+'.charCodeAt(0)] = 62
VALUE['-'.charCodeAt(0)] = 62
VALUE['/'.charCodeAt(0)] = 63
VALUE['_'.charCodeAt(0)] = 63

export interface EncodedBlob {
  /** offsets of the encoded run (padding included) in the scanned bytes */
  start: number
  end: number
  /** what it decodes to */
  decoded: string
}

const isPrintable = (byte: number): boolean => (byte >= 0x20 && byte < 0x7f) || byte === 0x09 || byte === 0x0a || byte === 0x0d

/** Whether the first SAMPLE_CHARACTERS of a run decode to printable ASCII, byte by byte: most runs fail on the first few. */
const sampleIsText = (bytes: Uint8Array, start: number, end: number): boolean => {
  const stop = Math.min(end, start + SAMPLE_CHARACTERS)
  let buffer = 0
  let bits = 0
  for (let i = start; i < stop; i++) {
    buffer = ((buffer << 6) | VALUE[bytes[i]]) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      if (!isPrintable((buffer >>> bits) & 0xff)) return false
    }
  }
  return true
}

/** mostly printable: at most one byte in twenty is not (UTF-8 letters in a description, say) */
const mostlyPrintable = (decoded: Uint8Array): boolean => {
  let other = 0
  for (let i = 0; i < decoded.length; i++) if (!isPrintable(decoded[i])) other++
  return other * 20 <= decoded.length
}

/**
 * The base64 runs in `bytes` that decode to text, at most MAX_BLOBS_PER_FILE of them and
 * MAX_DECODED_BYTES_PER_FILE decoded bytes in all. `skip(start, end)` leaves out runs already
 * accounted for (a token some detector matched as it stands).
 */
export const findEncodedBlobs = (bytes: Uint8Array, skip?: (start: number, end: number) => boolean): EncodedBlob[] => {
  const blobs: EncodedBlob[] = []
  const length = bytes.length
  let decodedBytes = 0
  let runs = 0
  let floor = 0
  for (let probe = MIN_RUN - 1; probe < length; ) {
    if (ALPHABET[bytes[probe]] === 0) {
      probe += MIN_RUN
      continue
    }
    let start = probe
    while (start > floor && ALPHABET[bytes[start - 1]] !== 0) start--
    // a run of MIN_RUN from `start` reaches start + MIN_RUN - 1: when that byte is not base64 the run
    // is shorter, and the next run begins after that byte, so it covers the byte MIN_RUN further on
    if (start + MIN_RUN - 1 >= length || ALPHABET[bytes[start + MIN_RUN - 1]] === 0) {
      probe = start + 2 * MIN_RUN - 1
      continue
    }
    let end = probe + 1
    while (end < length && ALPHABET[bytes[end]] !== 0) end++
    // the next run starts after `end`; its first MIN_RUN characters cover end + MIN_RUN
    floor = end
    probe = end + MIN_RUN
    if (end - start < MIN_RUN) continue
    if (++runs > MAX_RUNS_PER_FILE) break
    // a lone leftover character cannot be base64: the run started early (`x` + `dXNlcjpw...`)
    const from = (end - start) % 4 === 1 ? start + 1 : start
    if (!sampleIsText(bytes, from, end)) continue
    // one alphabet only: `path/to_some-file` mixes them, base64 never does
    let alphabets = STANDARD | URL_SAFE
    for (let i = from; i < end && alphabets !== 0; i++) alphabets &= ALPHABET[bytes[i]]
    if (alphabets === 0) continue
    let padded = end
    while (padded < length && padded < end + 2 && bytes[padded] === EQUALS) padded++
    if (skip?.(start, padded)) continue
    const budget = MAX_DECODED_BYTES_PER_FILE - decodedBytes
    const usable = Math.min(end - from, Math.floor(budget / 3) * 4)
    if (usable < MIN_RUN) break
    const decoded = Buffer.from(Buffer.from(bytes.buffer, bytes.byteOffset + from, usable).toString('latin1'), 'base64')
    decodedBytes += decoded.length
    if (!mostlyPrintable(decoded)) continue
    blobs.push({ start, end: padded, decoded: decoded.toString('utf8') })
    if (blobs.length >= MAX_BLOBS_PER_FILE) break
  }
  return blobs
}

/** The same for a string (config values, transcoded text): characters beyond latin1 end a run. */
export const findEncodedBlobsInText = (text: string, skip?: (start: number, end: number) => boolean): EncodedBlob[] => {
  const bytes = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    bytes[i] = code < 256 ? code : 0
  }
  return findEncodedBlobs(bytes, skip)
}
