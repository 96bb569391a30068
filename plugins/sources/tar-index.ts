/**
 * Random access into an uncompressed tar file without extracting it: one pass over the 512-byte
 * headers records where each member's bytes start and how long they are, and members are then
 * read in place. Handles ustar prefixes, PAX (`x`) path/linkpath/size records, GNU long names
 * (`L`, `K`) and base-256 sizes. Also home of the path normalisation every tar reader here shares.
 */
import { open } from 'node:fs/promises'
import { posix } from 'node:path'
import { LayerleakError, toLayerleakError } from '../../core/errors.ts'

/** `./a//b/` -> `a/b`: no leading `./` or `/`, no trailing `/`, no empty or `.` segments. */
export const normaliseEntryPath = (name: string): string => {
  if (!name.includes('//') && !name.includes('/./') && name[0] !== '.' && name[0] !== '/' && !name.endsWith('/')) return name
  const parts = name.split('/').filter((part) => part !== '' && part !== '.')
  return parts.join('/')
}

export type TarMemberType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other'

export interface TarMember {
  path: string
  type: TarMemberType
  /** offset of the member's first data byte in the file */
  offset: number
  size: number
  linkname?: string
}

export interface TarIndex {
  file: string
  members: Map<string, TarMember>
  /** the member at `path`, following symlinks and hardlinks to the member holding the bytes */
  find(path: string): TarMember | undefined
}

const BLOCK = 512
const decoder = new TextDecoder()

const readString = (block: Uint8Array, start: number, length: number): string => {
  const end = block.indexOf(0, start)
  return decoder.decode(block.subarray(start, end === -1 || end > start + length ? start + length : end))
}

const readOctal = (block: Uint8Array, start: number, length: number): number => {
  // base-256 (GNU): high bit of the first byte set, the rest is a big-endian number
  if (block[start] & 0x80) {
    let value = block[start] & 0x7f
    for (let i = start + 1; i < start + length; i++) value = value * 256 + block[i]
    return value
  }
  const text = readString(block, start, length).trim()
  return text === '' ? 0 : Number.parseInt(text, 8)
}

const checksumMatches = (block: Uint8Array): boolean => {
  let unsigned = 0
  let signed = 0
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]
    unsigned += byte
    signed += byte > 127 ? byte - 256 : byte
  }
  const stored = readOctal(block, 148, 8)
  return stored === unsigned || stored === signed
}

const isZeroBlock = (block: Uint8Array): boolean => {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false
  return true
}

/** PAX records: `<len> <key>=<value>\n`, lengths in bytes */
const parsePax = (bytes: Uint8Array): Record<string, string> => {
  const records: Record<string, string> = {}
  let at = 0
  while (at < bytes.length) {
    const space = bytes.indexOf(0x20, at)
    if (space === -1) break
    const length = Number.parseInt(decoder.decode(bytes.subarray(at, space)), 10)
    if (!(length > 0)) break
    const record = decoder.decode(bytes.subarray(space + 1, at + length - 1))
    const equals = record.indexOf('=')
    if (equals > 0) records[record.slice(0, equals)] = record.slice(equals + 1)
    at += length
  }
  return records
}

const memberType = (flag: string): TarMemberType => {
  if (flag === '0' || flag === '\0' || flag === '7' || flag === '') return 'file'
  if (flag === '1') return 'hardlink'
  if (flag === '2') return 'symlink'
  if (flag === '5') return 'directory'
  return 'other'
}

const MAX_LONG_HEADER = 1024 * 1024

/** Reads every header of an uncompressed tar file. INVALID_ARCHIVE when it is not one. */
export const indexTarFile = async (file: string, what = file): Promise<TarIndex> => {
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(file, 'r')
  } catch (error) {
    if ((error as { code?: string })?.code === 'ENOENT') throw new LayerleakError('NOT_FOUND', `${what} not found`, { cause: error })
    throw toLayerleakError(error)
  }
  const members = new Map<string, TarMember>()
  try {
    const fileSize = (await handle.stat()).size
    const block = new Uint8Array(BLOCK)
    const readAt = async (target: Uint8Array, position: number) => {
      const { bytesRead } = await handle.read(target, 0, target.byteLength, position)
      return bytesRead
    }
    let position = 0
    let longName: string | undefined
    let longLink: string | undefined
    let pax: Record<string, string> | undefined
    for (;;) {
      const got = await readAt(block, position)
      if (got === 0) break // no end-of-archive blocks: tolerated, as GNU tar does
      if (got < BLOCK) throw new LayerleakError('INVALID_ARCHIVE', `${what} is truncated: a tar header at offset ${position} is cut short`)
      if (isZeroBlock(block)) break
      if (!checksumMatches(block)) {
        throw new LayerleakError('INVALID_ARCHIVE', `${what} is not a valid tar archive: bad header checksum at offset ${position}`)
      }
      const flag = String.fromCharCode(block[156])
      const ustar = readString(block, 257, 6) === 'ustar'
      const gnu = ustar && block[262] === 0x20
      let name = readString(block, 0, 100)
      if (ustar && !gnu && block[345] !== 0) name = `${readString(block, 345, 155)}/${name}`
      let size = readOctal(block, 124, 12)
      const dataOffset = position + BLOCK
      if (!Number.isFinite(size) || size < 0) throw new LayerleakError('INVALID_ARCHIVE', `${what} has an invalid size in the tar header at offset ${position}`)
      if (flag === 'L' || flag === 'K' || flag === 'x' || flag === 'g') {
        if (size > MAX_LONG_HEADER) throw new LayerleakError('INVALID_ARCHIVE', `${what} has a ${size}-byte extended header at offset ${position}`)
        const data = new Uint8Array(size)
        if ((await readAt(data, dataOffset)) < size) throw new LayerleakError('INVALID_ARCHIVE', `${what} is truncated inside an extended header`)
        if (flag === 'L') longName = readString(data, 0, size)
        else if (flag === 'K') longLink = readString(data, 0, size)
        else if (flag === 'x') pax = parsePax(data)
        // `g` (global PAX) carries no per-member facts docker archives use
        position = dataOffset + Math.ceil(size / BLOCK) * BLOCK
        continue
      }
      let linkname = readString(block, 157, 100) || undefined
      if (longName !== undefined) name = longName
      if (longLink !== undefined) linkname = longLink
      if (pax?.path !== undefined) name = pax.path
      if (pax?.linkpath !== undefined) linkname = pax.linkpath
      if (pax?.size !== undefined) size = Number.parseInt(pax.size, 10)
      longName = longLink = pax = undefined
      const type = memberType(flag)
      const dataSize = type === 'file' || type === 'other' ? size : 0
      if (dataOffset + dataSize > fileSize) {
        throw new LayerleakError('INVALID_ARCHIVE', `${what} is truncated: member ${name} needs ${dataSize} bytes at offset ${dataOffset}, the file has ${fileSize}`)
      }
      const path = normaliseEntryPath(name)
      members.set(path, { path, type, offset: dataOffset, size: dataSize, ...(linkname !== undefined ? { linkname } : {}) })
      position = dataOffset + Math.ceil(dataSize / BLOCK) * BLOCK
    }
  } finally {
    await handle.close().catch(() => {})
  }
  const find = (path: string): TarMember | undefined => {
    let current = members.get(normaliseEntryPath(path))
    for (let hops = 0; current && hops < 16; hops++) {
      if (current.type === 'hardlink' && current.linkname !== undefined) current = members.get(normaliseEntryPath(current.linkname))
      else if (current.type === 'symlink' && current.linkname !== undefined) {
        const target = current.linkname.startsWith('/') ? current.linkname : posix.join(posix.dirname(current.path), current.linkname)
        current = members.get(normaliseEntryPath(posix.normalize(target)))
      } else return current
    }
    return undefined
  }
  return { file, members, find }
}
