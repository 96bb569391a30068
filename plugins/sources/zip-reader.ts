/**
 * A zip reader for archives held in memory (APPNOTE.TXT): the end-of-central-directory record
 * (zip64 when the counts or offsets overflow) leads to the central directory, whose entries give
 * each member's method, sizes and local header; stored and deflated members are read, encrypted
 * ones and other methods are reported as skipped. The central directory is trusted for sizes, so
 * members written with data descriptors need no special care; data prepended to the archive (a
 * launcher script before a jar) shifts every offset by the same amount and is allowed for.
 */
import { inflateRawSync } from 'node:zlib'
import type { ArchiveMember } from '../../core/nested-archives.ts'

const EOCD = 0x06054b50
const ZIP64_LOCATOR = 0x07064b50
const ZIP64_EOCD = 0x06064b50
const CENTRAL_HEADER = 0x02014b50
const LOCAL_HEADER = 0x04034b50
const EOCD_SIZE = 22
/** without the extensible data sector, which nobody writes */
const ZIP64_EOCD_SIZE = 56
const MAX_COMMENT = 0xffff
const ZIP64_EXTRA = 0x0001
const FLAG_ENCRYPTED = 0x0001
const STORED = 0
const DEFLATED = 8

const utf8 = new TextDecoder('utf-8')

class ZipView {
  readonly #view: DataView
  readonly bytes: Uint8Array

  constructor(bytes: Uint8Array) {
    this.bytes = bytes
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  u16(at: number): number {
    this.#need(at, 2)
    return this.#view.getUint16(at, true)
  }

  u32(at: number): number {
    this.#need(at, 4)
    return this.#view.getUint32(at, true)
  }

  u64(at: number): number {
    this.#need(at, 8)
    const value = this.#view.getBigUint64(at, true)
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`zip64 value ${value} out of range`)
    return Number(value)
  }

  #need(at: number, length: number) {
    if (at < 0 || at + length > this.bytes.byteLength) throw new Error(`truncated: needs bytes ${at}..${at + length} of ${this.bytes.byteLength}`)
  }
}

interface Directory {
  entries: number
  offset: number
  /** what was prepended to the archive: every stored offset is off by this */
  shift: number
}

const findDirectory = (zip: ZipView): Directory => {
  const { bytes } = zip
  const lowest = Math.max(0, bytes.length - EOCD_SIZE - MAX_COMMENT)
  let eocd = -1
  for (let at = bytes.length - EOCD_SIZE; at >= lowest; at--) {
    if (bytes[at] === 0x50 && bytes[at + 1] === 0x4b && bytes[at + 2] === 5 && bytes[at + 3] === 6 && zip.u32(at) === EOCD) {
      eocd = at
      break
    }
  }
  if (eocd < 0) throw new Error('no end of central directory record (truncated or not a zip)')
  let entries = zip.u16(eocd + 10)
  let size = zip.u32(eocd + 12)
  let offset = zip.u32(eocd + 16)
  let end = eocd
  if ((entries === 0xffff || size === 0xffffffff || offset === 0xffffffff) && eocd >= 20 && zip.u32(eocd - 20) === ZIP64_LOCATOR) {
    // the record sits where the locator says, or (data prepended) right before the locator
    let record = zip.u64(eocd - 20 + 8)
    if (record + 4 > eocd - 20 || zip.u32(record) !== ZIP64_EOCD) record = eocd - 20 - ZIP64_EOCD_SIZE
    if (record < 0 || zip.u32(record) !== ZIP64_EOCD) throw new Error('zip64 end of central directory record missing')
    entries = zip.u64(record + 32)
    size = zip.u64(record + 40)
    offset = zip.u64(record + 48)
    end = record
  }
  const shift = end - (offset + size)
  if (shift < 0) throw new Error('central directory runs past its end record (truncated)')
  return { entries, offset: offset + shift, shift }
}

/** Sizes and offset from the zip64 extra field, for the header fields that say 0xffffffff. */
const zip64Fields = (zip: ZipView, extraStart: number, extraEnd: number, fields: { size: number; compressed: number; local: number }) => {
  for (let at = extraStart; at + 4 <= extraEnd; ) {
    const id = zip.u16(at)
    const length = zip.u16(at + 2)
    if (id === ZIP64_EXTRA) {
      // only the overflowed fields are present, in this order
      let field = at + 4
      if (fields.size === 0xffffffff) {
        fields.size = zip.u64(field)
        field += 8
      }
      if (fields.compressed === 0xffffffff) {
        fields.compressed = zip.u64(field)
        field += 8
      }
      if (fields.local === 0xffffffff) fields.local = zip.u64(field)
      return
    }
    at += 4 + length
  }
}

const normaliseName = (name: string): string => name.replace(/\\/g, '/').replace(/^(?:\.?\/)+/, '')

/** The zip's members in central-directory order; throws where the structure is broken. */
export function* zipMembers(bytes: Uint8Array, maxMemberBytes: number): Iterable<ArchiveMember> {
  const zip = new ZipView(bytes)
  const directory = findDirectory(zip)
  let at = directory.offset
  for (let i = 0; i < directory.entries; i++) {
    if (zip.u32(at) !== CENTRAL_HEADER) throw new Error(`central directory entry ${i} is damaged`)
    const flags = zip.u16(at + 8)
    const method = zip.u16(at + 10)
    const nameLength = zip.u16(at + 28)
    const extraLength = zip.u16(at + 30)
    const commentLength = zip.u16(at + 32)
    const fields = { compressed: zip.u32(at + 20), size: zip.u32(at + 24), local: zip.u32(at + 42) }
    const nameStart = at + 46
    if (nameStart + nameLength > bytes.length) throw new Error(`central directory entry ${i} is truncated`)
    const rawName = bytes.subarray(nameStart, nameStart + nameLength)
    // names without the UTF-8 flag (bit 11) are CP437 in theory, ASCII or UTF-8 in practice
    const name = normaliseName(utf8.decode(rawName))
    zip64Fields(zip, nameStart + nameLength, nameStart + nameLength + extraLength, fields)
    at = nameStart + nameLength + extraLength + commentLength
    if (name === '' || name.endsWith('/')) continue

    if (flags & FLAG_ENCRYPTED) {
      yield { path: name, skipped: 'encrypted' }
      continue
    }
    if (method !== STORED && method !== DEFLATED) {
      yield { path: name, skipped: `compression method ${method} is not supported` }
      continue
    }
    if (fields.size > maxMemberBytes) {
      yield { path: name, skipped: `larger than ${maxMemberBytes} bytes (maxArchiveBytes)` }
      continue
    }
    const local = fields.local + directory.shift
    if (zip.u32(local) !== LOCAL_HEADER) throw new Error(`local header of ${name} is damaged`)
    const dataStart = local + 30 + zip.u16(local + 26) + zip.u16(local + 28)
    if (dataStart + fields.compressed > bytes.length) throw new Error(`${name} is truncated`)
    const data = bytes.subarray(dataStart, dataStart + fields.compressed)
    if (method === STORED) {
      yield { path: name, bytes: data }
      continue
    }
    let inflated: Uint8Array
    try {
      // a lying size field cannot make zlib produce more than a member may hold
      inflated = inflateRawSync(data, { maxOutputLength: Math.max(1, Math.min(maxMemberBytes, fields.size || maxMemberBytes)) })
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        yield { path: name, skipped: `inflates past its declared size (${fields.size} bytes)` }
        continue
      }
      throw new Error(`${name}: ${(error as Error).message}`)
    }
    yield { path: name, bytes: new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.byteLength) }
  }
}
