/**
 * The filesystem a container sees: layers applied in order with the OCI image-spec changeset rules
 * (whiteouts and opaque directories hide lower layers only; an entry replaces whatever a lower layer
 * had at its path; a directory replaced by a non-directory takes its subtree with it). Every version
 * a later layer removed or replaced is kept aside, with the layer that had it and the layer that
 * removed it: that is where deleted secrets hide. Works on entry metadata only, never on bytes.
 */
import type { EntryType, LayerEntry } from './contracts.ts'
import { classifyWhiteout } from './filesystem-index.ts'

/** A tar entry without its body. */
export type EntryMeta = Pick<LayerEntry, 'path' | 'type' | 'size' | 'mode'> & Partial<Pick<LayerEntry, 'linkname' | 'uid' | 'gid'>>

export interface MergedEntry extends EntryMeta {
  /** the layer that last wrote this path */
  layer: number
}

export type RemovalKind = 'deleted' | 'replaced'

/** A version of a path that an earlier layer had and a later layer removed (`deleted`) or overwrote (`replaced`). */
export interface RemovedEntry extends MergedEntry {
  removedBy: number
  how: RemovalKind
}

export interface ChangeTotals {
  count: number
  bytes: number
}

/** What one layer did to the filesystem below it. Only non-directories count: directories carry no bytes. */
export interface LayerDelta {
  index: number
  /** non-directory entries at paths nothing below had */
  added: ChangeTotals
  /** non-directory entries at paths a lower layer had (the new version's bytes) */
  modified: ChangeTotals
  /** lower-layer non-directories this layer deleted (whiteouts, opaque directories, a directory replaced by a file) */
  removed: ChangeTotals
  /** every non-directory entry of the layer, whiteout markers excluded */
  files: number
  bytes: number
}

interface Node {
  children: Map<string, Node>
  /** undefined for directories no layer wrote explicitly (implied by a deeper path) */
  entry?: MergedEntry
}

const newNode = (): Node => ({ children: new Map() })
const isDirectory = (type: EntryType) => type === 'directory'
const emptyTotals = (): ChangeTotals => ({ count: 0, bytes: 0 })

const pathParts = (path: string): string[] => path.split('/').filter((part) => part !== '' && part !== '.')

export class MergedFilesystem {
  private readonly root = newNode()
  /** versions removed or replaced by a later layer, in the order it happened */
  readonly removed: RemovedEntry[] = []
  readonly deltas: LayerDelta[] = []

  /**
   * Applies one layer on top of what is there. `index` is the layer's position; entries in archive
   * order. Whiteouts first (they hide lower layers, never the layer's own entries), then entries.
   */
  applyLayer(index: number, entries: Iterable<EntryMeta>): LayerDelta {
    const delta: LayerDelta = { index, added: emptyTotals(), modified: emptyTotals(), removed: emptyTotals(), files: 0, bytes: 0 }
    const regular: EntryMeta[] = []
    for (const entry of entries) {
      if (pathParts(entry.path).length === 0) continue
      const whiteout = classifyWhiteout(entry.path)
      if (whiteout?.kind === 'whiteout') this.deleteSubtree(whiteout.target, index, delta)
      else if (whiteout?.kind === 'opaque') this.clearDirectory(whiteout.directory, index, delta)
      else regular.push(entry)
    }
    for (const entry of regular) this.write(entry, index, delta)
    this.deltas.push(delta)
    return delta
  }

  /** The entry the final image shows at `path`, if any. */
  get(path: string): MergedEntry | undefined {
    return this.find(path)?.entry
  }

  /** true when `path` exists, explicitly written or implied as a parent directory */
  has(path: string): boolean {
    return pathParts(path).length === 0 || this.find(path) !== undefined
  }

  /**
   * Every path of the merged view under `under` (the whole tree by default), parents before
   * children, siblings by name. Directories no layer wrote explicitly appear with `layer: -1`.
   */
  *entries(under = ''): Generator<MergedEntry> {
    const parts = pathParts(under)
    const start = parts.length === 0 ? this.root : this.find(under)
    if (!start) return
    const prefix = parts.join('/')
    if (start !== this.root) yield start.entry ?? { path: prefix, type: 'directory', size: 0, mode: 0o755, layer: -1 }
    yield* this.walk(start, prefix)
  }

  /** Removed versions under `under` (or the whole tree), by path, then oldest first. */
  removedUnder(under = ''): RemovedEntry[] {
    const prefix = pathParts(under).join('/')
    const matching = prefix ? this.removed.filter((entry) => entry.path === prefix || entry.path.startsWith(`${prefix}/`)) : [...this.removed]
    return matching.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.layer - b.layer))
  }

  private *walk(node: Node, prefix: string): Generator<MergedEntry> {
    for (const name of [...node.children.keys()].sort()) {
      const child = node.children.get(name) as Node
      const path = prefix ? `${prefix}/${name}` : name
      yield child.entry ?? { path, type: 'directory', size: 0, mode: 0o755, layer: -1 }
      yield* this.walk(child, path)
    }
  }

  private find(path: string): Node | undefined {
    let node: Node | undefined = this.root
    for (const part of pathParts(path)) {
      node = node.children.get(part)
      if (!node) return undefined
    }
    return node
  }

  private recordRemoval(entry: MergedEntry, removedBy: number, how: RemovalKind, delta: LayerDelta): void {
    if (isDirectory(entry.type)) return
    this.removed.push({ ...entry, removedBy, how })
    // a layer overwriting its own entry (a tar with the same path twice) is not a deletion of lower content
    if (how === 'deleted' && entry.layer < removedBy) {
      delta.removed.count++
      delta.removed.bytes += entry.size
    }
  }

  private removeChildren(node: Node, removedBy: number, how: RemovalKind, delta: LayerDelta): void {
    for (const child of node.children.values()) {
      if (child.entry) this.recordRemoval(child.entry, removedBy, how, delta)
      this.removeChildren(child, removedBy, how, delta)
    }
    node.children.clear()
  }

  private deleteSubtree(path: string, index: number, delta: LayerDelta): void {
    const parts = pathParts(path)
    if (parts.length === 0) return
    const parent = this.find(parts.slice(0, -1).join('/'))
    const node = parent?.children.get(parts[parts.length - 1])
    if (!parent || !node) return
    if (node.entry) this.recordRemoval(node.entry, index, 'deleted', delta)
    this.removeChildren(node, index, 'deleted', delta)
    parent.children.delete(parts[parts.length - 1])
  }

  private clearDirectory(path: string, index: number, delta: LayerDelta): void {
    const node = this.find(path)
    if (node) this.removeChildren(node, index, 'deleted', delta)
  }

  private write(entry: EntryMeta, index: number, delta: LayerDelta): void {
    const parts = pathParts(entry.path)
    const path = parts.join('/')
    let node = this.root
    for (const part of parts.slice(0, -1)) {
      let child = node.children.get(part)
      if (!child) {
        child = newNode()
        node.children.set(part, child)
      } else if (child.entry && !isDirectory(child.entry.type)) {
        // a file where this entry needs a directory: the layer replaced it with one
        this.recordRemoval(child.entry, index, 'replaced', delta)
        child.entry = undefined
      }
      node = child
    }
    const name = parts[parts.length - 1]
    const existing = node.children.get(name)
    const merged: MergedEntry = { ...entry, path, layer: index }
    if (!isDirectory(entry.type)) {
      delta.files++
      delta.bytes += entry.size
      const lower = existing && (existing.entry ? existing.entry.layer < index : true)
      const totals = lower ? delta.modified : delta.added
      totals.count++
      totals.bytes += entry.size
    }
    if (!existing) {
      node.children.set(name, { children: new Map(), entry: merged })
      return
    }
    if (existing.entry && !isDirectory(existing.entry.type)) this.recordRemoval(existing.entry, index, 'replaced', delta)
    // a non-directory over a directory removes everything below it
    if (!isDirectory(entry.type)) this.removeChildren(existing, index, 'deleted', delta)
    existing.entry = merged
  }
}

/** Applies every layer's entries in order. */
export const mergeLayers = (layers: Iterable<EntryMeta>[]): MergedFilesystem => {
  const merged = new MergedFilesystem()
  layers.forEach((entries, index) => merged.applyLayer(index, entries))
  return merged
}
