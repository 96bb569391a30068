/**
 * Scans one layer as it streams: every regular file through the TextScanner (large files in
 * overlapping windows, so nothing is skipped and memory stays bounded), every path into the
 * layer's changeset for the whiteout replay, hardlinks credited with their target's matches.
 * Files that are archives (jars, zips, tgz...) are opened when archive readers are given, and
 * their members scanned as files of their own, `outer.jar!inner/path` (core/nested-archives.ts).
 */
import type { Layer, LayerEntry } from './contracts.ts'
import { toLayerleakError, type LayerleakError } from './errors.ts'
import { classifyWhiteout, LayerChanges } from './filesystem-index.ts'
import { exceeds, type Limits } from './limits.ts'
import { ARCHIVE_SNIFF_BYTES, type ArchiveNotice, archiveReaderFor, type NestedArchiveOptions, scanArchiveTree } from './nested-archives.ts'
import type { Diagnostic } from './result.ts'
import type { RawMatch, TextScanner } from './text-scanner.ts'

/** A secret in a file, as the layer holds it. */
export interface FileMatch extends RawMatch {
  /** where the secret is: the file's path, or `outer.jar!inner/path` inside an archive */
  path: string
  /** the layer entry that holds it (the outermost archive, for a member): whiteouts and presence are judged on this path */
  entryPath: string
}

export interface LayerScanOutcome {
  digest: string
  changes: LayerChanges
  matches: FileMatch[]
  files: number
  bytes: number
  /** what could not be read inside files (corrupt, encrypted or oversized archives); the layer itself read fine */
  diagnostics: Diagnostic[]
  /** set when the layer could not be read to its end */
  error?: LayerleakError
  /** the limit that stopped reading, e.g. `max_layer_entries` */
  limitHit?: string
}

/** Windows of large files overlap by this much, so a secret across a window edge is still seen whole. */
const WINDOW_OVERLAP = 16 * 1024
/** a layer full of broken jars says so a hundred times, then once how many more */
const MAX_DIAGNOSTICS_PER_LAYER = 100

export interface LayerScanOptions {
  scanner: TextScanner
  limits: Limits
  /** readers and bounds for archives inside the layer; without them archives are scanned as bytes */
  archives?: NestedArchiveOptions
  signal?: AbortSignal
  onProgress?: (compressedBytes: number) => void
}

export const scanLayer = async (layer: Layer, options: LayerScanOptions): Promise<LayerScanOutcome> => {
  const outcome: LayerScanOutcome = { digest: layer.digest, changes: new LayerChanges(), matches: [], files: 0, bytes: 0, diagnostics: [] }
  const matchesByPath = new Map<string, FileMatch[]>()
  let notices = 0
  const notice = (found: ArchiveNotice) => {
    notices++
    if (notices <= MAX_DIAGNOSTICS_PER_LAYER) outcome.diagnostics.push({ code: found.code, scope: 'file', subject: found.path, message: `layer ${layer.index}: ${found.path}: ${found.message}` })
  }
  let entries = 0
  try {
    for await (const entry of layer.entries({ signal: options.signal, onProgress: options.onProgress })) {
      entries++
      if (exceeds(entries, options.limits.maxLayerEntries)) {
        outcome.limitHit = 'max_layer_entries'
        break
      }
      outcome.changes.record(entry.path, entry.type)
      if (entry.type === 'hardlink' && entry.linkname) {
        // a hardlink has no bytes of its own: it is its target's content under another name
        const target = entry.linkname.replace(/^\.?\//, '')
        for (const match of matchesByPath.get(target) ?? []) {
          outcome.matches.push({ ...match, path: entry.path + match.path.slice(target.length), entryPath: entry.path })
        }
        continue
      }
      if (entry.type !== 'file' || classifyWhiteout(entry.path)) continue
      if (exceeds(outcome.bytes + entry.size, options.limits.maxLayerBytes)) {
        outcome.limitHit = 'max_layer_bytes'
        break
      }
      const found = await scanFile(entry, options, notice)
      outcome.files++
      outcome.bytes += entry.size
      if (found.length > 0) {
        matchesByPath.set(entry.path, found)
        outcome.matches.push(...found)
      }
    }
  } catch (error) {
    outcome.error = toLayerleakError(error, 'INVALID_ARCHIVE')
  }
  if (notices > MAX_DIAGNOSTICS_PER_LAYER) {
    outcome.diagnostics.push({ code: 'archive_limit', scope: 'layer', subject: layer.digest, message: `layer ${layer.index}: ${notices - MAX_DIAGNOSTICS_PER_LAYER} more archive diagnostics not listed` })
  }
  return outcome
}

async function* replay(head: Uint8Array[], rest: AsyncIterator<Uint8Array>): AsyncIterable<Uint8Array> {
  yield* head
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value
}

const concat = (chunks: Uint8Array[], size: number): Uint8Array => {
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(size)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.byteLength
  }
  return out
}

const scanFile = async (entry: LayerEntry, options: LayerScanOptions, notice: (found: ArchiveNotice) => void): Promise<FileMatch[]> => {
  const { scanner, limits } = options
  const windowSize = Math.max(limits.maxFileBytes, WINDOW_OVERLAP * 2)
  const found: FileMatch[] = []
  const collect = (matches: RawMatch[], path: string) => {
    for (const match of matches) found.push({ ...match, path, entryPath: entry.path })
  }

  /** an in-memory file (an archive member): whole, or in the same overlapping windows as a stream */
  const scanBuffer = (bytes: Uint8Array, path: string) => {
    const location = { sourceType: 'file_final' as const, path, key: '' }
    let baseOffset = 0
    let baseLine = 1
    let skipBefore = 0
    for (;;) {
      const end = Math.min(bytes.length, baseOffset + windowSize)
      collect(scanner.scanBytes(bytes.subarray(baseOffset, end), location, { baseOffset, baseLine, skipBefore }), path)
      if (end === bytes.length) return
      const next = end - WINDOW_OVERLAP
      for (let at = bytes.indexOf(10, baseOffset); at !== -1 && at < next; at = bytes.indexOf(10, at + 1)) baseLine++
      baseOffset = next
      skipBefore = end
    }
  }

  // the first bytes tell whether the file is an archive worth opening
  const archives = options.archives && options.archives.readers.length > 0 && options.archives.limits.maxArchiveDepth > 0 ? options.archives : undefined
  const rest = entry.body[Symbol.asyncIterator]()
  const head: Uint8Array[] = []
  let headBytes = 0
  if (archives) {
    while (headBytes < ARCHIVE_SNIFF_BYTES) {
      const next = await rest.next()
      if (next.done) break
      head.push(next.value)
      headBytes += next.value.byteLength
    }
    const reader = archiveReaderFor(archives.readers, concat(head, headBytes).subarray(0, ARCHIVE_SNIFF_BYTES))
    if (reader && entry.size <= archives.limits.maxArchiveBytes) {
      const chunks: Uint8Array[] = []
      let size = 0
      for await (const chunk of replay(head, rest)) {
        chunks.push(chunk)
        size += chunk.byteLength
      }
      await scanArchiveTree(concat(chunks, size), entry.path, reader, { options: archives, scanBytes: scanBuffer, notice })
      return found
    }
    if (reader) notice({ code: 'archive_limit', path: entry.path, message: `${reader.format} archive of ${entry.size} bytes is larger than maxArchiveBytes (${archives.limits.maxArchiveBytes}): scanned as bytes, not opened` })
  }
  const location = { sourceType: 'file_final' as const, path: entry.path, key: '' }
  if (head.length === 0 && entry.size > 0) {
    const first = await rest.next()
    if (!first.done) {
      head.push(first.value)
      headBytes += first.value.byteLength
    }
  }
  // most files arrive in one chunk: scan it where it lies, no copy
  if (head.length === 1 && headBytes >= entry.size && entry.size <= windowSize) {
    const done = await rest.next()
    if (done.done) {
      collect(scanner.scanBytes(head[0].byteLength === entry.size ? head[0] : head[0].subarray(0, entry.size), location), entry.path)
      return found
    }
    head.push(done.value)
    headBytes += done.value.byteLength
  }
  const body = replay(head, rest)

  if (entry.size <= windowSize) {
    const bytes = new Uint8Array(entry.size)
    let filled = 0
    for await (const chunk of body) {
      const take = Math.min(chunk.byteLength, bytes.length - filled)
      bytes.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take), filled)
      filled += take
    }
    collect(scanner.scanBytes(filled === bytes.length ? bytes : bytes.subarray(0, filled), location), entry.path)
    return found
  }

  // large file: fixed windows, each starting with the previous window's last WINDOW_OVERLAP bytes
  const buffer = new Uint8Array(windowSize)
  let filled = 0
  let baseOffset = 0
  let baseLine = 1
  let skipBefore = 0
  const flush = (final: boolean) => {
    const view = buffer.subarray(0, filled)
    collect(scanner.scanBytes(view, location, { baseOffset, baseLine, skipBefore }), entry.path)
    if (final) return
    const keep = Math.min(WINDOW_OVERLAP, filled)
    const consumed = filled - keep
    for (let at = view.indexOf(10); at !== -1 && at < consumed; at = view.indexOf(10, at + 1)) baseLine++
    buffer.copyWithin(0, consumed, filled)
    baseOffset += consumed
    skipBefore = baseOffset + keep
    filled = keep
  }
  for await (const chunk of body) {
    let offset = 0
    while (offset < chunk.byteLength) {
      const take = Math.min(chunk.byteLength - offset, buffer.length - filled)
      buffer.set(chunk.subarray(offset, offset + take), filled)
      filled += take
      offset += take
      if (filled === buffer.length) flush(false)
    }
  }
  if (filled > 0 && baseOffset + filled > skipBefore) flush(true)
  return found
}
