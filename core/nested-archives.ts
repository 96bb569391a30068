/**
 * Archives inside layers: jars, wars, wheels, Android apks and zips, tars and tgz (Alpine apks too),
 * single gzip or zstd files. A reader plugin turns an archive's bytes into its members; the layer
 * scanner scans each member as it scans a file, addressed `outer.jar!inner/path`, and opens members
 * that are archives themselves. Bounds keep a hostile archive (a zip bomb, a quine, ten thousand
 * entries) from costing more than a normal file would: what an archive may hold in memory, how many
 * members are read, how deep archives nest, and how much one file may expand to in all.
 * core/ knows no archive format: the readers are injected (plugins/sources/nested-archives.ts).
 */
import { exceeds } from './limits.ts'

export interface ArchiveMember {
  /** path inside the archive, normalised: no leading `./` or `/` */
  path: string
  /** the member's bytes, decompressed; absent when the member was not read (see `skipped`) */
  bytes?: Uint8Array
  /** why the member was not read: `encrypted`, `compression method 14`, `larger than 67108864 bytes` */
  skipped?: string
}

export interface ArchiveReadOptions {
  /** the archive's own file name (`notes.txt.gz`): a lone gzip or zstd member is named after it */
  name: string
  /** a member larger than this (decompressed) is yielded as skipped, never inflated */
  maxMemberBytes: number
}

export interface ArchiveReader {
  /** `zip`, `tar`, `gzip`, `zstd` */
  format: string
  /** true when a file starting with these bytes is this format (`head` holds ARCHIVE_SNIFF_BYTES, or the whole file if shorter) */
  sniff(head: Uint8Array): boolean
  /**
   * The archive's regular files, in order. A corrupt archive throws, after yielding every member
   * read before the damage.
   */
  members(archive: Uint8Array, options: ArchiveReadOptions): Iterable<ArchiveMember> | AsyncIterable<ArchiveMember>
}

/** enough for the tar magic at offset 257 */
export const ARCHIVE_SNIFF_BYTES = 512

export interface ArchiveLimits {
  /** the largest archive opened, and the largest member read; a file expands to at most EXPANSION_FACTOR times this */
  maxArchiveBytes: number
  /** members read per archive (0: no cap) */
  maxArchiveEntries: number
  /** how deep archives nest: 1 opens archives in layers but not archives inside them; 0 opens none */
  maxArchiveDepth: number
}

export const defaultArchiveLimits: ArchiveLimits = {
  maxArchiveBytes: 64 * 1024 * 1024,
  maxArchiveEntries: 10_000,
  maxArchiveDepth: 3,
}

/**
 * All members read out of one layer file, every depth together, stop at this multiple of
 * maxArchiveBytes: overlapping-entry zip bombs turn kilobytes into terabytes one member at a time.
 */
export const EXPANSION_FACTOR = 16

export interface NestedArchiveOptions {
  readers: readonly ArchiveReader[]
  limits: ArchiveLimits
}

export interface ArchiveNotice {
  code: 'archive_unreadable' | 'archive_member_skipped' | 'archive_limit'
  /** the archive or member, `outer.jar!inner/path` */
  path: string
  message: string
}

export interface ArchiveWalk {
  options: NestedArchiveOptions
  /** scans bytes that are not (or cannot be opened as) an archive */
  scanBytes(bytes: Uint8Array, path: string): void
  notice(notice: ArchiveNotice): void
}

/** The reader for a file that starts with `head`, if it is an archive at all. */
export const archiveReaderFor = (readers: readonly ArchiveReader[], head: Uint8Array): ArchiveReader | undefined =>
  readers.find((reader) => reader.sniff(head))

const baseName = (path: string): string => path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('!')) + 1)

/**
 * Opens the archive `bytes` (a layer file, depth 0) and scans every member, recursing into members
 * that are archives while the depth allows; an archive that cannot be read is scanned as bytes.
 */
export const scanArchiveTree = async (bytes: Uint8Array, path: string, reader: ArchiveReader, walk: ArchiveWalk): Promise<void> => {
  const { limits } = walk.options
  const budget = { remaining: limits.maxArchiveBytes * EXPANSION_FACTOR, exhausted: false }

  const open = async (archive: Uint8Array, archivePath: string, archiveReader: ArchiveReader, depth: number): Promise<void> => {
    let count = 0
    try {
      for await (const member of archiveReader.members(archive, { name: baseName(archivePath), maxMemberBytes: limits.maxArchiveBytes })) {
        count++
        const memberPath = `${archivePath}!${member.path}`
        if (exceeds(count, limits.maxArchiveEntries)) {
          walk.notice({ code: 'archive_limit', path: archivePath, message: `more than ${limits.maxArchiveEntries} members (maxArchiveEntries): the rest were not read` })
          return
        }
        if (!member.bytes) {
          walk.notice({ code: 'archive_member_skipped', path: memberPath, message: `not read: ${member.skipped ?? 'no content'}` })
          continue
        }
        budget.remaining -= member.bytes.byteLength
        if (budget.remaining < 0) {
          budget.exhausted = true
          walk.notice({
            code: 'archive_limit',
            path: archivePath,
            message: `members expand past ${EXPANSION_FACTOR} x maxArchiveBytes (${limits.maxArchiveBytes * EXPANSION_FACTOR} bytes): the rest were not read`,
          })
          return
        }
        await visit(member.bytes, memberPath, depth + 1)
        if (budget.exhausted) return
      }
    } catch (error) {
      walk.notice({ code: 'archive_unreadable', path: archivePath, message: `${archiveReader.format} archive unreadable${count > 0 ? ` after ${count} members` : ''}: ${(error as Error).message}; scanned as bytes` })
      walk.scanBytes(archive, archivePath)
    }
  }

  /** a member at `depth` (1: inside a layer file): opened when it is an archive and may nest further */
  const visit = async (member: Uint8Array, memberPath: string, depth: number): Promise<void> => {
    const inner = archiveReaderFor(walk.options.readers, member.subarray(0, ARCHIVE_SNIFF_BYTES))
    if (inner && depth < limits.maxArchiveDepth) return open(member, memberPath, inner, depth)
    if (inner) walk.notice({ code: 'archive_limit', path: memberPath, message: `${inner.format} archive nested deeper than maxArchiveDepth (${limits.maxArchiveDepth}): scanned as bytes` })
    walk.scanBytes(member, memberPath)
  }

  await open(bytes, path, reader, 0)
}
