/**
 * Unpacks layers into a directory the way a container runtime stacks them (whiteouts and opaque
 * directories applied), treating every archive as hostile: nothing is written outside the root.
 *
 * - paths with `..` segments (or absolute, should a reader keep them) are refused;
 * - nothing is ever written through a symlink: every parent of an entry must be a real directory,
 *   and the entry itself is created with O_EXCL|O_NOFOLLOW after removing what was there;
 * - a symlink whose target climbs out of the root is refused; absolute targets (`/usr/bin/python3`,
 *   which mean "inside the image") are rewritten relative, so on the host they stay inside the root;
 * - hard links must point at a regular file inside the root, reached through real directories;
 * - device nodes, fifos and unknown entry types are refused;
 * - setuid, setgid and sticky bits are dropped; ownership is never applied.
 * Refused entries are reported and skipped; everything else is extracted.
 */
import { constants } from 'node:fs'
import { chmod, link, lstat, mkdir, open, readdir, rm, symlink } from 'node:fs/promises'
import { join, posix, resolve } from 'node:path'
import type { LayerEntry } from '../../core/contracts.ts'
import { classifyWhiteout } from '../../core/filesystem-index.ts'

export interface Refusal {
  layer: number
  path: string
  reason: string
}

export interface ExtractTotals {
  /** entries created (files, directories, links) */
  written: number
  /** paths removed by whiteouts, opaque directories and replacements */
  removed: number
  refused: Refusal[]
}

class Refused extends Error {}

const isMissing = (error: unknown) => (error as { code?: string })?.code === 'ENOENT'

const lstatOrUndefined = async (path: string) => {
  try {
    return await lstat(path)
  } catch (error) {
    if (isMissing(error)) return undefined
    throw error
  }
}

/** `a/b/c` -> ['a', 'b', 'c'], refusing anything that could leave the root. */
export const safeParts = (path: string): string[] => {
  if (path.startsWith('/')) throw new Refused('absolute path')
  if (path.includes('\0')) throw new Refused('NUL byte in path')
  const parts = path.split('/').filter((part) => part !== '' && part !== '.')
  if (parts.includes('..')) throw new Refused('path with ".." escapes the extraction root')
  if (parts.length === 0) throw new Refused('empty path')
  return parts
}

/**
 * Where a symlink at `linkParts` pointing to `target` lands, inside the image: absolute targets
 * from the image root, relative ones from the link's directory. undefined when it climbs out.
 */
export const resolveLinkTarget = (linkParts: string[], target: string): string[] | undefined => {
  const stack = target.startsWith('/') ? [] : linkParts.slice(0, -1)
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (stack.length === 0) return undefined
      stack.pop()
    } else stack.push(part)
  }
  return stack
}

const DROP_SPECIAL_BITS = 0o777

export class SafeExtractor {
  readonly root: string
  readonly totals: ExtractTotals = { written: 0, removed: 0, refused: [] }
  /** paths the layer being applied wrote: its own whiteouts never remove them */
  private writtenThisLayer = new Set<string>()

  constructor(root: string) {
    this.root = resolve(root)
  }

  async applyLayer(layer: number, entries: AsyncIterable<LayerEntry>): Promise<void> {
    await mkdir(this.root, { recursive: true })
    this.writtenThisLayer = new Set()
    for await (const entry of entries) {
      try {
        await this.apply(entry)
      } catch (error) {
        if (!(error instanceof Refused)) throw error
        this.totals.refused.push({ layer, path: entry.path, reason: error.message })
      }
    }
  }

  private full(parts: string[]): string {
    return join(this.root, ...parts)
  }

  /** Every parent of `parts` must be a real directory; missing ones are created, files in the way replaced. */
  private async ensureParents(parts: string[]): Promise<void> {
    for (let i = 1; i < parts.length; i++) {
      const path = this.full(parts.slice(0, i))
      const stat = await lstatOrUndefined(path)
      if (stat?.isDirectory()) continue
      if (stat?.isSymbolicLink()) throw new Refused(`would write through the symlink /${parts.slice(0, i).join('/')}`)
      if (stat) {
        await rm(path, { force: true })
        this.totals.removed++
      }
      await mkdir(path, { mode: 0o755 })
    }
  }

  /** Parents exist as real directories (nothing is created); false when a parent is missing. */
  private async parentsAreDirectories(parts: string[]): Promise<boolean> {
    for (let i = 1; i < parts.length; i++) {
      const stat = await lstatOrUndefined(this.full(parts.slice(0, i)))
      if (!stat) return false
      if (stat.isSymbolicLink()) throw new Refused(`would act through the symlink /${parts.slice(0, i).join('/')}`)
      if (!stat.isDirectory()) return false
    }
    return true
  }

  /** Removes whatever is at `path` (a symlink itself, never what it points to). */
  private async clear(path: string): Promise<void> {
    const stat = await lstatOrUndefined(path)
    if (!stat) return
    await rm(path, { recursive: stat.isDirectory(), force: true })
    this.totals.removed++
  }

  /** Removes a directory's children that the current layer did not write. */
  private async clearLowerChildren(parts: string[]): Promise<void> {
    const dir = this.full(parts)
    let names: string[]
    try {
      names = await readdir(dir)
    } catch (error) {
      if (isMissing(error)) return
      throw error
    }
    for (const name of names) {
      const childParts = [...parts, name]
      const key = childParts.join('/')
      if (!this.writtenThisLayer.has(key)) await this.clear(this.full(childParts))
      else if ((await lstat(this.full(childParts))).isDirectory()) await this.clearLowerChildren(childParts)
    }
  }

  private async apply(entry: LayerEntry): Promise<void> {
    const whiteout = classifyWhiteout(entry.path)
    if (whiteout?.kind === 'whiteout') {
      const parts = safeParts(whiteout.target)
      if (this.writtenThisLayer.has(parts.join('/'))) return
      if (await this.parentsAreDirectories(parts)) await this.clear(this.full(parts))
      return
    }
    if (whiteout?.kind === 'opaque') {
      if (whiteout.directory === '') return this.clearLowerChildren([])
      const parts = safeParts(whiteout.directory)
      if ((await this.parentsAreDirectories(parts)) && (await lstatOrUndefined(this.full(parts)))?.isDirectory()) await this.clearLowerChildren(parts)
      return
    }
    const parts = safeParts(entry.path)
    const path = this.full(parts)
    switch (entry.type) {
      case 'directory': {
        await this.ensureParents(parts)
        const stat = await lstatOrUndefined(path)
        if (stat && !stat.isDirectory()) await this.clear(path)
        if (!stat?.isDirectory()) await mkdir(path, { mode: 0o700 })
        // owner rwx stays, so later entries of this and later layers can still be written below it
        await chmod(path, (entry.mode & DROP_SPECIAL_BITS) | 0o700)
        break
      }
      case 'file': {
        await this.ensureParents(parts)
        await this.clear(path)
        const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
        try {
          for await (const chunk of entry.body) {
            let offset = 0
            while (offset < chunk.byteLength) offset += (await handle.write(chunk, offset, chunk.byteLength - offset)).bytesWritten
          }
          await handle.chmod(entry.mode & DROP_SPECIAL_BITS)
        } finally {
          await handle.close()
        }
        break
      }
      case 'symlink': {
        const target = entry.linkname ?? ''
        const landing = resolveLinkTarget(parts, target)
        if (!landing) throw new Refused(`symlink to ${target} points outside the extraction root`)
        // relative from the link's own directory, so the link means on the host what it means in the image
        const relative = posix.relative(parts.slice(0, -1).join('/') || '.', landing.join('/') || '.') || '.'
        await this.ensureParents(parts)
        await this.clear(path)
        await symlink(relative, path)
        break
      }
      case 'hardlink': {
        const targetParts = safeParts((entry.linkname ?? '').replace(/^\/+/, ''))
        if (!(await this.parentsAreDirectories(targetParts))) throw new Refused(`hard link to /${targetParts.join('/')}, which is not in the extracted tree`)
        const targetStat = await lstatOrUndefined(this.full(targetParts))
        if (!targetStat?.isFile()) throw new Refused(`hard link to /${targetParts.join('/')}, which is not a regular file here`)
        if (targetParts.join('/') === parts.join('/')) return
        await this.ensureParents(parts)
        await this.clear(path)
        await link(this.full(targetParts), path)
        break
      }
      case 'char-device':
      case 'block-device':
        throw new Refused(`${entry.type} nodes are not extracted`)
      case 'fifo':
        throw new Refused('fifos are not extracted')
      default:
        throw new Refused(`entry type "${entry.type}" is not extracted`)
    }
    this.writtenThisLayer.add(parts.join('/'))
    this.totals.written++
  }
}
