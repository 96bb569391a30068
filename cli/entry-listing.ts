/**
 * How the explorer commands print tar entries: `ls -l`-style modes, human sizes, link targets, and
 * whiteouts as what they mean (a deletion, an opaque directory) rather than as `.wh.` files.
 */
import type { EntryType } from '../core/contracts.ts'
import { classifyWhiteout } from '../core/filesystem-index.ts'
import type { EntryMeta } from '../core/merged-filesystem.ts'
import { humanSize } from './format.ts'

const TYPE_CHAR: Record<EntryType, string> = {
  file: '-',
  directory: 'd',
  symlink: 'l',
  hardlink: 'h',
  'char-device': 'c',
  'block-device': 'b',
  fifo: 'p',
  other: '?',
}

/** `-rw-r--r--`, `drwxrwxrwt`, `-rwsr-xr-x`: what `ls -l` prints (`h` for a hard link, as `tar tv`) */
export const formatMode = (type: EntryType, mode: number): string => {
  const bit = (mask: number, char: string) => ((mode & mask) !== 0 ? char : '-')
  const special = (execMask: number, specialMask: number, set: string, unset: string) => {
    const exec = (mode & execMask) !== 0
    if ((mode & specialMask) === 0) return exec ? 'x' : '-'
    return exec ? set : unset
  }
  return (
    TYPE_CHAR[type] +
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    special(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') +
    bit(0o020, 'w') +
    special(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') +
    bit(0o002, 'w') +
    special(0o001, 0o1000, 't', 'T')
  )
}

export const octalMode = (mode: number): string => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`

/** What an entry of one layer means, whiteouts decoded. */
export type ListedEntry =
  | { kind: 'entry'; path: string; type: EntryType; size: number; mode: number; uid?: number; gid?: number; linkname?: string }
  | { kind: 'deleted'; path: string }
  | { kind: 'opaque'; path: string }

export const listedEntry = (entry: EntryMeta): ListedEntry => {
  const whiteout = classifyWhiteout(entry.path)
  if (whiteout?.kind === 'whiteout') return { kind: 'deleted', path: whiteout.target }
  if (whiteout?.kind === 'opaque') return { kind: 'opaque', path: whiteout.directory }
  return {
    kind: 'entry',
    path: entry.path,
    type: entry.type,
    size: entry.size,
    mode: entry.mode,
    ...(entry.uid !== undefined ? { uid: entry.uid } : {}),
    ...(entry.gid !== undefined ? { gid: entry.gid } : {}),
    ...(entry.linkname ? { linkname: entry.linkname } : {}),
  }
}

const SIZE_WIDTH = 9

/** ` -> target` for a symlink, ` link to target` for a hard link */
export const linkSuffix = (type: EntryType, linkname: string | undefined): string => {
  if (!linkname) return ''
  if (type === 'symlink') return ` -> ${linkname}`
  if (type === 'hardlink') return ` link to ${linkname}`
  return ''
}

/** Paths print with a trailing slash for directories, so `etc/` and `etc` never look alike. */
export const displayPath = (path: string, type: EntryType): string => (type === 'directory' ? `${path}/` : path)

/** One line of `peek`: `-rw-r--r--    1.2 KB  etc/passwd`, `[deleted]  app/.env`, `[opaque]   opt/secrets/` */
export const formatListedEntry = (entry: ListedEntry): string => {
  if (entry.kind === 'deleted') return `${'[deleted]'.padEnd(10)} ${''.padStart(SIZE_WIDTH)}  ${entry.path}`
  if (entry.kind === 'opaque') return `${'[opaque]'.padEnd(10)} ${''.padStart(SIZE_WIDTH)}  ${entry.path}/`
  return `${formatMode(entry.type, entry.mode)} ${humanSize(entry.size).padStart(SIZE_WIDTH)}  ${displayPath(entry.path, entry.type)}${linkSuffix(entry.type, entry.linkname)}`
}

/** The JSON shape of a listed entry: snake_case, modes as text and octal. */
export const listedEntryJson = (entry: ListedEntry): Record<string, unknown> => {
  if (entry.kind !== 'entry') return { kind: entry.kind, path: entry.path }
  return {
    kind: 'entry',
    path: entry.path,
    type: entry.type,
    size: entry.size,
    mode: formatMode(entry.type, entry.mode),
    mode_octal: octalMode(entry.mode),
    ...(entry.uid !== undefined ? { uid: entry.uid } : {}),
    ...(entry.gid !== undefined ? { gid: entry.gid } : {}),
    ...(entry.linkname ? { link_target: entry.linkname } : {}),
  }
}
