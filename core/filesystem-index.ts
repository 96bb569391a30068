/**
 * What each layer changed, as the OCI image-spec's changeset rules read it, so the scanner can say
 * whether a file a layer wrote is still in the final image. Whiteouts (`.wh.name`) and opaque
 * directories (`.wh..wh..opq`) hide lower layers only, never entries of their own layer.
 */
import type { LayerRecord, EntryType } from './contracts.ts'

export const WHITEOUT_PREFIX = '.wh.'
export const OPAQUE_MARKER = '.wh..wh..opq'

export type WhiteoutKind = { kind: 'whiteout'; target: string } | { kind: 'opaque'; directory: string } | undefined

/** Classifies an entry path: a whiteout of `target`, an opaque marker for `directory`, or neither. */
export const classifyWhiteout = (path: string): WhiteoutKind => {
  const slash = path.lastIndexOf('/')
  const base = path.slice(slash + 1)
  if (!base.startsWith(WHITEOUT_PREFIX)) return undefined
  const parent = slash >= 0 ? path.slice(0, slash) : ''
  if (base === OPAQUE_MARKER) return { kind: 'opaque', directory: parent }
  const name = base.slice(WHITEOUT_PREFIX.length)
  return { kind: 'whiteout', target: parent ? `${parent}/${name}` : name }
}

/** The parent directories of a path, nearest last: `a/b/c` -> `a`, `a/b`. */
export const ancestorsOf = (path: string): string[] => {
  const parts = path.split('/')
  const result: string[] = []
  for (let i = 1; i < parts.length; i++) result.push(parts.slice(0, i).join('/'))
  return result
}

/** One layer's changeset: what it added or replaced, what it deleted, which directories it made opaque. */
export class LayerChanges {
  /** path -> true when the entry is a directory */
  readonly entries = new Map<string, boolean>()
  readonly whiteouts = new Set<string>()
  readonly opaqueDirectories = new Set<string>()

  record(path: string, type: EntryType): void {
    const whiteout = classifyWhiteout(path)
    if (whiteout?.kind === 'whiteout') this.whiteouts.add(whiteout.target)
    else if (whiteout?.kind === 'opaque') this.opaqueDirectories.add(whiteout.directory)
    else this.entries.set(path, type === 'directory')
  }

  /** the changeset as the layer cache stores it */
  toRecord(): Pick<LayerRecord, 'entries' | 'whiteouts' | 'opaqueDirectories'> {
    return { entries: [...this.entries], whiteouts: [...this.whiteouts], opaqueDirectories: [...this.opaqueDirectories] }
  }

  static fromRecord(record: Pick<LayerRecord, 'entries' | 'whiteouts' | 'opaqueDirectories'>): LayerChanges {
    const changes = new LayerChanges()
    for (const [path, isDirectory] of record.entries) changes.entries.set(path, isDirectory)
    for (const path of record.whiteouts) changes.whiteouts.add(path)
    for (const path of record.opaqueDirectories) changes.opaqueDirectories.add(path)
    return changes
  }

  /** true when this layer hides or replaces a lower layer's `path` */
  hides(path: string): boolean {
    if (this.entries.has(path) || this.whiteouts.has(path)) return true
    for (const ancestor of ancestorsOf(path)) {
      if (this.whiteouts.has(ancestor) || this.opaqueDirectories.has(ancestor)) return true
      // a directory replaced by a file or symlink takes everything below it away
      if (this.entries.get(ancestor) === false) return true
    }
    return false
  }
}

/** Whether `path`, as layer `layerIndex` wrote it, is what the final image shows. */
export const presentInFinalImage = (layers: readonly LayerChanges[], layerIndex: number, path: string): boolean => {
  for (let j = layerIndex + 1; j < layers.length; j++) if (layers[j].hides(path)) return false
  return true
}
