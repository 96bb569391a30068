/**
 * `layerleak fs <ref> [PATH]`: the filesystem a container of the image sees (layers applied in
 * order, whiteouts and opaque directories honoured), each entry tagged with the layer that last wrote
 * it. `--deleted` adds what earlier layers had and later layers removed or replaced: still in the
 * image, invisible in a container, and where deleted secrets hide.
 */
import { defineCommand } from 'citty'
import type { Layer } from '../core/contracts.ts'
import { LayerleakError } from '../core/errors.ts'
import type { ScanEvent } from '../core/events.ts'
import { type MergedEntry, MergedFilesystem, type RemovedEntry } from '../core/merged-filesystem.ts'
import { formatPlatform } from '../core/platform.ts'
import { ExitCode } from './exit-codes.ts'
import { explorerArgs, openEnvironment, outputFormat, targetOfArgs } from './explorer-target.ts'
import { layerProgress, readLayersMetadata, runCommand, streamWriter, type Writer } from './explorer-io.ts'
import { displayPath, formatMode, linkSuffix, octalMode } from './entry-listing.ts'
import { humanSize } from './format.ts'

export interface FsEntryJson {
  path: string
  type: MergedEntry['type']
  size: number
  mode: string
  mode_octal: string
  /** the layer that last wrote the path; -1 for a directory only implied by deeper paths */
  layer: number
  link_target?: string
}

export interface FsDeletedJson extends Omit<FsEntryJson, 'layer'> {
  /** the layer that had this version */
  layer: number
  /** the layer that removed or replaced it */
  removed_by: number
  how: RemovedEntry['how']
}

export interface FsReport {
  reference: string
  platform: string
  manifest_digest: string
  /** the subtree shown ('' for the whole filesystem) */
  path: string
  entries: FsEntryJson[]
  deleted?: FsDeletedJson[]
}

const entryJson = (entry: MergedEntry): FsEntryJson => ({
  path: entry.path,
  type: entry.type,
  size: entry.size,
  mode: formatMode(entry.type, entry.mode),
  mode_octal: octalMode(entry.mode),
  layer: entry.layer,
  ...(entry.linkname ? { link_target: entry.linkname } : {}),
})

/** `/etc/` -> `etc`: the explorer's paths have no leading or trailing slash */
export const normaliseImagePath = (path: string): string =>
  path
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/')

/** The merged view (and, with `deleted`, the removed versions) under `path`. Pure. */
export const fsReport = (
  merged: MergedFilesystem,
  identity: { reference: string; platform: string; manifest_digest: string },
  options: { path?: string; deleted?: boolean } = {},
): FsReport => {
  const path = normaliseImagePath(options.path ?? '')
  const entries = [...merged.entries(path)].map(entryJson)
  const deleted = options.deleted
    ? merged.removedUnder(path).map((entry) => ({ ...entryJson(entry), removed_by: entry.removedBy, how: entry.how }))
    : undefined
  if (path && entries.length === 0 && !deleted?.length) {
    const hint = options.deleted ? '' : ' (--deleted also shows what later layers removed)'
    throw new LayerleakError('NOT_FOUND', `/${path} is not in the image's final filesystem${hint}`)
  }
  return { ...identity, path, entries, ...(deleted ? { deleted } : {}) }
}

const layerTag = (layer: number) => (layer < 0 ? '[-]' : `[${layer}]`)

export const renderFsText = (report: FsReport): string => {
  const lines: string[] = []
  const layerWidth = Math.max(3, ...report.entries.map((entry) => layerTag(entry.layer).length))
  for (const entry of report.entries) {
    lines.push(`${entry.mode} ${humanSize(entry.size).padStart(9)}  ${layerTag(entry.layer).padEnd(layerWidth)}  ${displayPath(entry.path, entry.type)}${linkSuffix(entry.type, entry.link_target)}`)
  }
  const files = report.entries.filter((entry) => entry.type !== 'directory')
  lines.push('', `${files.length} file${files.length === 1 ? '' : 's'}, ${humanSize(files.reduce((sum, entry) => sum + entry.size, 0))} in the final filesystem${report.path ? ` under /${report.path}` : ''} ([n] = the layer that last wrote it)`)
  const text = `${lines.join('\n')}\n`
  return report.deleted ? `${text}\n${renderDeletedText(report.deleted)}` : text
}

/** What later layers removed or replaced: the `--deleted` part of `fs`. */
export const renderDeletedText = (deleted: FsDeletedJson[]): string => {
  if (deleted.length === 0) return 'Nothing was removed or replaced by a later layer.\n'
  const lines = ['Removed or replaced by a later layer (not visible in a container, still in the image):']
  for (const entry of deleted) {
    lines.push(`${entry.mode} ${humanSize(entry.size).padStart(9)}  ${displayPath(entry.path, entry.type)}${linkSuffix(entry.type, entry.link_target)}  (in layer ${entry.layer}, ${entry.how} by layer ${entry.removed_by})`)
  }
  lines.push('', '`layerleak cat <ref> <path> --layer N` prints a removed file from the layer that has it.')
  return `${lines.join('\n')}\n`
}

/** Reads every layer's metadata and applies them in order. */
export const mergeTargetLayers = async (layers: Layer[], options: { onEvent?: (event: ScanEvent) => void } = {}): Promise<MergedFilesystem> => {
  const metadata = await readLayersMetadata(layers, options.onEvent ? { onEvent: options.onEvent } : {})
  const merged = new MergedFilesystem()
  const order = layers.map((layer, i) => ({ layer, entries: metadata[i] })).sort((a, b) => a.layer.index - b.layer.index)
  for (const { layer, entries } of order) merged.applyLayer(layer.index, entries)
  return merged
}

export const fsArgs = {
  ...explorerArgs,
  path: { type: 'positional' as const, description: 'only this directory (or file) of the image', required: false },
  deleted: { type: 'boolean' as const, description: 'also list what earlier layers had and later layers removed or replaced' },
}

export const runFs = async (args: Record<string, unknown>, write: Writer): Promise<number> => {
  const format = outputFormat(args.format)
  const environment = await openEnvironment(args, { jsonOutput: format === 'json' })
  try {
    const target = await targetOfArgs(args, environment)
    const layers = await target.layers()
    const progress = layerProgress(target.reference, layers)
    let merged: MergedFilesystem
    try {
      merged = await mergeTargetLayers(layers, { onEvent: (event) => progress.onEvent(event) })
    } finally {
      progress.done()
    }
    const report = fsReport(
      merged,
      { reference: target.reference, platform: formatPlatform(target.platform), manifest_digest: target.manifest.digest },
      { ...(typeof args.path === 'string' ? { path: args.path } : {}), deleted: args.deleted === true },
    )
    await write(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderFsText(report))
    return ExitCode.clean
  } finally {
    await environment.close()
  }
}

export const fsCommand = defineCommand({
  meta: { name: 'fs', description: 'the merged filesystem a container sees, each path with the layer that wrote it (--deleted: what later layers removed)' },
  args: fsArgs,
  async run({ args }) {
    await runCommand(() => runFs(args, streamWriter(process.stdout)))
  },
})
