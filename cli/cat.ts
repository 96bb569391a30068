/**
 * `layerleak cat <ref> <path> [--layer N]`: one file's bytes on stdout, binary-safe. Without
 * --layer, the file the final filesystem shows (layers read from the top down, each only until the
 * file is found); a file a later layer deleted is an error that names the layer still holding it.
 * With --layer, that layer's copy, deleted or not. Reading stops as soon as the file is out: the
 * rest of the layer is never downloaded. Hard links give their target's bytes (from the same
 * layer); a symlink prints its target path, with a note on stderr (links are never followed).
 */
import { posix } from 'node:path'
import { defineCommand } from 'citty'
import type { EntryType, Layer } from '../core/contracts.ts'
import { LayerleakError } from '../core/errors.ts'
import { ancestorsOf, classifyWhiteout } from '../core/filesystem-index.ts'
import { ExitCode } from './exit-codes.ts'
import { explorerArgs, layerAt, openEnvironment, targetOfArgs } from './explorer-target.ts'
import { runCommand, streamWriter, type Writer } from './explorer-io.ts'
import { normaliseImagePath } from './fs.ts'

export interface CatOutcome {
  layer: number
  path: string
  type: EntryType
  /** bytes written */
  bytes: number
  /** for a symlink: where it points (that is what was written) */
  linkTarget?: string
  /** for a hard link: the path whose bytes were written */
  hardlinkTarget?: string
}

/** What one pass over a layer found about `path`. */
type LayerLookup =
  | { found: 'entry'; outcome: CatOutcome }
  | { found: 'hidden'; by: string; through?: { path: string; type: EntryType; linkname?: string } }
  | { found: 'absent' }

const MAX_HARDLINK_HOPS = 8

const notReadable = (path: string, type: EntryType, layer: number): LayerleakError => {
  if (type === 'directory') return new LayerleakError('INVALID_ARGUMENT', `/${path} is a directory in layer ${layer}: \`layerleak fs <ref> /${path}\` lists it`)
  return new LayerleakError('INVALID_ARGUMENT', `/${path} is a ${type} in layer ${layer}: it has no content to print`)
}

const stripLeadingSlash = (linkname: string) => normaliseImagePath(linkname)

/**
 * Reads `layer` until `path` turns up and writes its bytes; stops reading right there. Also says
 * whether the layer hides a lower layer's `path` (a whiteout, an opaque parent, a parent replaced
 * by a non-directory). A hard link re-reads the layer up to its target.
 */
const lookInLayer = async (layer: Layer, path: string, write: Writer, options: { signal?: AbortSignal; hops?: number } = {}): Promise<LayerLookup> => {
  const ancestors = new Set(ancestorsOf(path))
  let hiddenBy: string | undefined
  let through: { path: string; type: EntryType; linkname?: string } | undefined
  let hardlink: { linkname: string } | undefined
  for await (const entry of layer.entries(options.signal ? { signal: options.signal } : {})) {
    const whiteout = classifyWhiteout(entry.path)
    if (whiteout) {
      if (whiteout.kind === 'whiteout' && (whiteout.target === path || ancestors.has(whiteout.target))) hiddenBy = entry.path
      if (whiteout.kind === 'opaque' && ancestors.has(whiteout.directory)) hiddenBy = entry.path
      continue
    }
    if (ancestors.has(entry.path) && entry.type !== 'directory') {
      hiddenBy = entry.path
      through = { path: entry.path, type: entry.type, ...(entry.linkname ? { linkname: entry.linkname } : {}) }
      continue
    }
    if (entry.path !== path) {
      // a deeper path means this layer has `path` as a directory, whether or not it lists it
      if (entry.path.startsWith(`${path}/`)) throw notReadable(path, 'directory', layer.index)
      continue
    }
    if (entry.type === 'file') {
      let bytes = 0
      for await (const chunk of entry.body) {
        bytes += chunk.byteLength
        await write(chunk)
      }
      // breaking out here ends the layer's stream: nothing after this file is downloaded
      return { found: 'entry', outcome: { layer: layer.index, path, type: 'file', bytes } }
    }
    if (entry.type === 'symlink') {
      const target = entry.linkname ?? ''
      await write(`${target}\n`)
      return { found: 'entry', outcome: { layer: layer.index, path, type: 'symlink', bytes: target.length + 1, linkTarget: target } }
    }
    if (entry.type === 'hardlink' && entry.linkname) {
      hardlink = { linkname: entry.linkname }
      break
    }
    throw notReadable(path, entry.type, layer.index)
  }
  if (hardlink) {
    // the target came earlier in the archive and its bytes are gone: read the layer again up to it
    const hops = (options.hops ?? 0) + 1
    const target = stripLeadingSlash(hardlink.linkname)
    if (hops > MAX_HARDLINK_HOPS || target === path) throw new LayerleakError('INVALID_ARCHIVE', `/${path} in layer ${layer.index} is a hard link loop`)
    const resolved = await lookInLayer(layer, target, write, { ...options, hops })
    if (resolved.found !== 'entry') throw new LayerleakError('INVALID_ARCHIVE', `/${path} in layer ${layer.index} is a hard link to /${target}, which the layer does not have`)
    return { found: 'entry', outcome: { ...resolved.outcome, path, type: 'hardlink', hardlinkTarget: resolved.outcome.hardlinkTarget ?? target } }
  }
  return hiddenBy ? { found: 'hidden', by: hiddenBy, ...(through ? { through } : {}) } : { found: 'absent' }
}

/** Writes `path` as `layer` holds it (deleted by a later layer or not). */
export const catFromLayer = async (layer: Layer, path: string, write: Writer, options: { signal?: AbortSignal } = {}): Promise<CatOutcome> => {
  const normalised = normaliseImagePath(path)
  const lookup = await lookInLayer(layer, normalised, write, options)
  if (lookup.found === 'entry') return lookup.outcome
  throw new LayerleakError('NOT_FOUND', `layer ${layer.index} has no /${normalised}${lookup.found === 'hidden' ? ` (it deletes it: ${lookup.by})` : ''}`)
}

/**
 * Writes `path` as the final filesystem shows it: the topmost layer that has it, unless a layer
 * above deleted it (then NOT_FOUND, naming the layer to pass to --layer).
 */
export const catFromImage = async (layers: Layer[], path: string, write: Writer, options: { signal?: AbortSignal } = {}): Promise<CatOutcome> => {
  const normalised = normaliseImagePath(path)
  if (!normalised) throw new LayerleakError('INVALID_ARGUMENT', 'give the path of a file in the image, e.g. /etc/os-release')
  const topDown = [...layers].sort((a, b) => b.index - a.index)
  for (const [position, layer] of topDown.entries()) {
    const lookup = await lookInLayer(layer, normalised, write, options)
    if (lookup.found === 'entry') return lookup.outcome
    if (lookup.found === 'hidden' && lookup.through) {
      // a parent is a symlink or a file here: links are never followed, so name the real path
      const { through } = lookup
      const rest = normalised.slice(through.path.length + 1)
      const hint =
        through.type === 'symlink' && through.linkname
          ? `: /${through.path} is a symlink to ${through.linkname} in layer ${layer.index}; try ${posix.join(through.linkname.startsWith('/') ? through.linkname : posix.join('/', posix.dirname(through.path), through.linkname), rest)}`
          : `: /${through.path} is a ${through.type} in layer ${layer.index}`
      throw new LayerleakError('NOT_FOUND', `/${normalised} is not in the final filesystem${hint}`)
    }
    if (lookup.found === 'hidden') {
      // say where the deleted file still is, so --layer can get it
      let holder: number | undefined
      for (const lower of topDown.slice(position + 1)) {
        const below = await layerHas(lower, normalised, options)
        if (below) {
          holder = lower.index
          break
        }
      }
      const where = holder === undefined ? '' : `; layer ${holder} still has it: add --layer ${holder}`
      throw new LayerleakError('NOT_FOUND', `/${normalised} is not in the final filesystem: layer ${layer.index} deleted it (${lookup.by})${where}`, {
        details: { deletedBy: layer.index, ...(holder !== undefined ? { layer: holder } : {}) },
      })
    }
  }
  throw new LayerleakError('NOT_FOUND', `/${normalised} is in no layer of the image`)
}

/** true when the layer has `path` as an entry; stops reading there. */
const layerHas = async (layer: Layer, path: string, options: { signal?: AbortSignal }): Promise<boolean> => {
  for await (const entry of layer.entries(options.signal ? { signal: options.signal } : {})) {
    if (entry.path === path && !classifyWhiteout(entry.path)) return true
  }
  return false
}

const { format: _format, ...sharedArgs } = explorerArgs

export const catArgs = {
  ...sharedArgs,
  path: { type: 'positional' as const, description: 'the file, e.g. /etc/os-release', required: true },
  layer: { type: 'string' as const, alias: 'l', description: 'read this layer (deleted files included) instead of the final filesystem' },
}

export const runCat = async (args: Record<string, unknown>, write: Writer, notes: (text: string) => void = (text) => process.stderr.write(text)): Promise<number> => {
  const environment = await openEnvironment(args, { jsonOutput: true })
  try {
    const target = await targetOfArgs(args, environment)
    const layers = await target.layers()
    const path = String(args.path ?? '')
    let outcome: CatOutcome
    if (args.layer !== undefined && args.layer !== '') {
      const index = Number(args.layer)
      if (!Number.isInteger(index) || index < 0) throw new LayerleakError('INVALID_ARGUMENT', `--layer takes one layer index (got "${String(args.layer)}")`)
      outcome = await catFromLayer(layerAt(layers, index), path, write)
    } else {
      outcome = await catFromImage(layers, path, write)
    }
    if (outcome.type === 'symlink') notes(`layerleak: /${outcome.path} is a symlink to ${outcome.linkTarget} (layer ${outcome.layer}); printed the target path, not followed\n`)
    if (outcome.type === 'hardlink') environment.logger.debug(`/${outcome.path} is a hard link to /${outcome.hardlinkTarget} in layer ${outcome.layer}`)
    return ExitCode.clean
  } finally {
    await environment.close()
  }
}

export const catCommand = defineCommand({
  meta: { name: 'cat', description: "print one file of an image to stdout (from the final filesystem, or --layer N: deleted files too)" },
  args: catArgs,
  async run({ args }) {
    await runCommand(() => runCat(args, streamWriter(process.stdout)))
  },
})
