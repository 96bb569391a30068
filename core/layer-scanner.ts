/**
 * Scans one layer as it streams: every regular file through the TextScanner (large files in
 * overlapping windows, so nothing is skipped and memory stays bounded), every path into the
 * layer's changeset for the whiteout replay, hardlinks credited with their target's matches.
 * Files that are archives (jars, zips, tgz...) are opened when archive readers are given, and
 * their members scanned as files of their own, `outer.jar!inner/path` (core/nested-archives.ts).
 */
import type { FileScanPool, Layer, LayerEntry } from './contracts.ts'
import { toLayerleakError, type LayerleakError } from './errors.ts'
import { classifyWhiteout, LayerChanges } from './filesystem-index.ts'
import { exceeds, type Limits } from './limits.ts'
import { ARCHIVE_SNIFF_BYTES, type ArchiveNotice, archiveReaderFor, type NestedArchiveOptions, scanArchiveTree } from './nested-archives.ts'
import type { Diagnostic } from './result.ts'
import { type RawMatch, type TextScanner, WINDOW_OVERLAP } from './text-scanner.ts'

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

/**
 * Files up to this size are read whole, then scanned in windows (by the pool when there is one):
 * line numbers are then counted only where a window found something. Larger files stream through
 * one window buffer, so memory stays bounded whatever a layer holds.
 */
const MAX_WHOLE_FILE_BYTES = 16 * 1024 * 1024
/** a layer full of broken jars says so a hundred times, then once how many more */
const MAX_DIAGNOSTICS_PER_LAYER = 100

export interface LayerScanOptions {
  scanner: TextScanner
  limits: Limits
  /** readers and bounds for archives inside the layer; without them archives are scanned as bytes */
  archives?: NestedArchiveOptions
  signal?: AbortSignal
  onProgress?: (compressedBytes: number) => void
  /**
   * Worker threads for whole files: tar parsing goes on while they scan. Archives and files
   * larger than a window are still scanned here. Built for the same detectors as `scanner`.
   */
  pool?: FileScanPool
}

/**
 * A file's matches: known now, or being scanned by the pool (`later` never rejects: a failure is a
 * value). Wrapped, so an async function can hand it back without awaiting it.
 */
type FileResult = FileMatch[] | { later: Promise<FileMatch[] | { failed: unknown }> }

export const scanLayer = async (layer: Layer, options: LayerScanOptions): Promise<LayerScanOutcome> => {
  const outcome: LayerScanOutcome = { digest: layer.digest, changes: new LayerChanges(), matches: [], files: 0, bytes: 0, diagnostics: [] }
  // every file's (and hardlink's) matches in tar order; put together once the pool has answered
  const results: FileResult[] = []
  const resultsByPath = new Map<string, FileResult>()
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
        const targetResult = resultsByPath.get(target)
        const linked = (matches: FileMatch[]) => matches.map((match) => ({ ...match, path: entry.path + match.path.slice(target.length), entryPath: entry.path }))
        if (Array.isArray(targetResult)) results.push(linked(targetResult))
        else if (targetResult) results.push({ later: targetResult.later.then((matches) => (Array.isArray(matches) ? linked(matches) : matches)) })
        continue
      }
      if (entry.type !== 'file' || classifyWhiteout(entry.path)) continue
      if (exceeds(outcome.bytes + entry.size, options.limits.maxLayerBytes)) {
        outcome.limitHit = 'max_layer_bytes'
        break
      }
      // bounded memory: wait while the pool holds too many bytes not yet scanned
      if (options.pool) await options.pool.capacity()
      const found = await scanFile(entry, options, notice)
      outcome.files++
      outcome.bytes += entry.size
      if (!Array.isArray(found) || found.length > 0) {
        resultsByPath.set(entry.path, found)
        results.push(found)
      }
    }
  } catch (error) {
    outcome.error = toLayerleakError(error, 'INVALID_ARCHIVE')
  }
  // what the pool has not answered yet is awaited even when the layer stopped early: it was read
  for (const result of results) {
    const matches = Array.isArray(result) ? result : await result.later
    if (Array.isArray(matches)) outcome.matches.push(...matches)
    else outcome.error ??= toLayerleakError(matches.failed)
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

const scanFile = async (entry: LayerEntry, options: LayerScanOptions, notice: (found: ArchiveNotice) => void): Promise<FileResult> => {
  const { scanner, limits, pool } = options
  const windowSize = Math.max(limits.maxFileBytes, WINDOW_OVERLAP * 2)
  const found: FileMatch[] = []
  const collect = (matches: RawMatch[], path: string) => {
    for (const match of matches) found.push({ ...match, path, entryPath: entry.path })
  }
  /** an in-memory file (an archive member): whole, or in the same overlapping windows as a stream */
  const scanBuffer = (bytes: Uint8Array, path: string) => collect(scanner.scanInWindows(bytes, { sourceType: 'file_final', path, key: '' }, windowSize), path)

  /** a whole file: to the pool (it copies the bytes), else scanned here */
  const scanWhole = (bytes: Uint8Array): FileResult => {
    if (pool) {
      return {
        later: pool.scan(bytes, entry.path, windowSize).then(
          (matches) => matches.map((match) => ({ ...match, path: entry.path, entryPath: entry.path })),
          (failed: unknown) => ({ failed }),
        ),
      }
    }
    scanBuffer(bytes, entry.path)
    return found
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
    if (done.done) return scanWhole(head[0].byteLength === entry.size ? head[0] : head[0].subarray(0, entry.size))
    head.push(done.value)
    headBytes += done.value.byteLength
  }
  const body = replay(head, rest)

  if (entry.size <= Math.max(windowSize, MAX_WHOLE_FILE_BYTES)) {
    const bytes = new Uint8Array(entry.size)
    let filled = 0
    for await (const chunk of body) {
      const take = Math.min(chunk.byteLength, bytes.length - filled)
      bytes.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take), filled)
      filled += take
    }
    return scanWhole(filled === bytes.length ? bytes : bytes.subarray(0, filled))
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
