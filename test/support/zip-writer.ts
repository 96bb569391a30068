/**
 * Writes zip archives for fixtures (jars, wars, wheels are zips): stored or deflated members, an
 * encrypted flag for members the scanner must skip, and zip64 records on request, so tests build
 * every archive they scan in code.
 */
import { Buffer } from 'node:buffer'
import { crc32, deflateRawSync } from 'node:zlib'

export interface ZipMemberSpec {
  path: string
  content: string | Uint8Array
  /** default deflate */
  method?: 'stored' | 'deflate'
  /** sets the encryption flag (the bytes stay as given: a reader must not try them) */
  encrypted?: boolean
}

export interface ZipOptions {
  /** write zip64 end records and a zip64 extra field on every member, as large archives have */
  zip64?: boolean
}

const bytesOf = (content: string | Uint8Array): Buffer => (typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content))

export const buildZip = (members: ZipMemberSpec[], options: ZipOptions = {}): Uint8Array => {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const member of members) {
    const name = Buffer.from(member.path, 'utf8')
    const raw = bytesOf(member.content)
    const deflate = (member.method ?? 'deflate') === 'deflate'
    const data = deflate ? deflateRawSync(raw) : raw
    const flags = 0x0800 | (member.encrypted ? 0x0001 : 0)
    const method = deflate ? 8 : 0
    const crc = crc32(raw)
    const zip64Extra = Buffer.alloc(options.zip64 ? 28 : 0)
    if (options.zip64) {
      zip64Extra.writeUInt16LE(0x0001, 0)
      zip64Extra.writeUInt16LE(24, 2)
      zip64Extra.writeBigUInt64LE(BigInt(raw.length), 4)
      zip64Extra.writeBigUInt64LE(BigInt(data.length), 12)
      zip64Extra.writeBigUInt64LE(BigInt(offset), 20)
    }
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(flags, 6)
    local.writeUInt16LE(method, 8)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(data.length, 18)
    local.writeUInt32LE(raw.length, 22)
    local.writeUInt16LE(name.length, 26)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE(options.zip64 ? 45 : 20, 4)
    central.writeUInt16LE(options.zip64 ? 45 : 20, 6)
    central.writeUInt16LE(flags, 8)
    central.writeUInt16LE(method, 10)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(options.zip64 ? 0xffffffff : data.length, 20)
    central.writeUInt32LE(options.zip64 ? 0xffffffff : raw.length, 24)
    central.writeUInt16LE(name.length, 28)
    central.writeUInt16LE(zip64Extra.length, 30)
    central.writeUInt32LE(options.zip64 ? 0xffffffff : offset, 42)
    locals.push(local, name, data)
    centrals.push(central, name, zip64Extra)
    offset += local.length + name.length + data.length
  }
  const directory = Buffer.concat(centrals)
  const tail: Buffer[] = []
  if (options.zip64) {
    const record = Buffer.alloc(56)
    record.writeUInt32LE(0x06064b50, 0)
    record.writeBigUInt64LE(44n, 4)
    record.writeUInt16LE(45, 12)
    record.writeUInt16LE(45, 14)
    record.writeBigUInt64LE(BigInt(members.length), 24)
    record.writeBigUInt64LE(BigInt(members.length), 32)
    record.writeBigUInt64LE(BigInt(directory.length), 40)
    record.writeBigUInt64LE(BigInt(offset), 48)
    const locator = Buffer.alloc(20)
    locator.writeUInt32LE(0x07064b50, 0)
    locator.writeBigUInt64LE(BigInt(offset + directory.length), 8)
    locator.writeUInt32LE(1, 16)
    tail.push(record, locator)
  }
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(options.zip64 ? 0xffff : members.length, 8)
  end.writeUInt16LE(options.zip64 ? 0xffff : members.length, 10)
  end.writeUInt32LE(options.zip64 ? 0xffffffff : directory.length, 12)
  end.writeUInt32LE(options.zip64 ? 0xffffffff : offset, 16)
  return new Uint8Array(Buffer.concat([...locals, directory, ...tail, end]))
}
