/**
 * Scans one layer as it streams: every regular file through the TextScanner (large files in
 * overlapping windows, so nothing is skipped and memory stays bounded), every path into the
 * layer's changeset for the whiteout replay, hardlinks credited with their target's matches.
 */
import type { Layer, LayerEntry } from './contracts.ts'
import { toLayerleakError, type LayerleakError } from './errors.ts'
import { classifyWhiteout, LayerChanges } from './filesystem-index.ts'
import { exceeds, type Limits } from './limits.ts'
import type { RawMatch, TextScanner } from './text-scanner.ts'

/** A secret in a file, as the layer holds it. */
export interface FileMatch extends RawMatch {
  path: string
}

export interface LayerScanOutcome {
  digest: string
  changes: LayerChanges
  matches: FileMatch[]
  files: number
  bytes: number
  /** set when the layer could not be read to its end */
  error?: LayerleakError
  /** the limit that stopped reading, e.g. `max_layer_entries` */
  limitHit?: string
}

/** Windows of large files overlap by this much, so a secret across a window edge is still seen whole. */
const WINDOW_OVERLAP = 16 * 1024

export interface LayerScanOptions {
  scanner: TextScanner
  limits: Limits
  signal?: AbortSignal
  onProgress?: (compressedBytes: number) => void
}

export const scanLayer = async (layer: Layer, options: LayerScanOptions): Promise<LayerScanOutcome> => {
  const outcome: LayerScanOutcome = { digest: layer.digest, changes: new LayerChanges(), matches: [], files: 0, bytes: 0 }
  const matchesByPath = new Map<string, FileMatch[]>()
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
        for (const match of matchesByPath.get(target) ?? []) outcome.matches.push({ ...match, path: entry.path })
        continue
      }
      if (entry.type !== 'file' || classifyWhiteout(entry.path)) continue
      if (exceeds(outcome.bytes + entry.size, options.limits.maxLayerBytes)) {
        outcome.limitHit = 'max_layer_bytes'
        break
      }
      const found = await scanFile(entry, options)
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
  return outcome
}

const scanFile = async (entry: LayerEntry, { scanner, limits }: LayerScanOptions): Promise<FileMatch[]> => {
  const location = { sourceType: 'file_final' as const, path: entry.path, key: '' }
  const windowSize = Math.max(limits.maxFileBytes, WINDOW_OVERLAP * 2)
  const toFileMatches = (matches: RawMatch[]): FileMatch[] => matches.map((match) => ({ ...match, path: entry.path }))

  if (entry.size <= windowSize) {
    const bytes = new Uint8Array(entry.size)
    let filled = 0
    for await (const chunk of entry.body) {
      const take = Math.min(chunk.byteLength, bytes.length - filled)
      bytes.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take), filled)
      filled += take
    }
    return toFileMatches(scanner.scanBytes(filled === bytes.length ? bytes : bytes.subarray(0, filled), location))
  }

  // large file: fixed windows, each starting with the previous window's last WINDOW_OVERLAP bytes
  const found: FileMatch[] = []
  const buffer = new Uint8Array(windowSize)
  let filled = 0
  let baseOffset = 0
  let baseLine = 1
  let skipBefore = 0
  const flush = (final: boolean) => {
    const view = buffer.subarray(0, filled)
    found.push(...toFileMatches(scanner.scanBytes(view, location, { baseOffset, baseLine, skipBefore })))
    if (final) return
    const keep = Math.min(WINDOW_OVERLAP, filled)
    const consumed = filled - keep
    for (let at = view.indexOf(10); at !== -1 && at < consumed; at = view.indexOf(10, at + 1)) baseLine++
    buffer.copyWithin(0, consumed, filled)
    baseOffset += consumed
    skipBefore = baseOffset + keep
    filled = keep
  }
  for await (const chunk of entry.body) {
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
