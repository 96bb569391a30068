/**
 * `layerleak peek <ref> [--layer N|all]`: a layer's entries as they stream in (type, mode, size,
 * path, link target), whiteouts shown as the deletions they are. Nothing is collected: each entry is
 * printed when the tar parser reaches it, so output starts while the layer is still downloading and
 * a layer of any size costs the same memory.
 */
import { defineCommand } from 'citty'
import { buildStepsForLayers } from '../core/build-steps.ts'
import type { Layer } from '../core/contracts.ts'
import { ExitCode } from './exit-codes.ts'
import { explorerArgs, openEnvironment, outputFormat, type OutputFormat, parseLayerSelection, targetOfArgs } from './explorer-target.ts'
import { layerProgress, runCommand, streamWriter, type Writer } from './explorer-io.ts'
import { formatListedEntry, type ListedEntry, listedEntry, listedEntryJson } from './entry-listing.ts'
import { cleanStep, humanSize } from './format.ts'
import { shortMediaType } from './layers.ts'
import type { ScanEvent } from '../core/events.ts'

export interface PeekTotals {
  entries: number
  files: number
  bytes: number
  deleted: number
  opaque: number
}

export interface PeekOptions {
  signal?: AbortSignal
  onEvent?: (event: ScanEvent) => void
}

/** Streams one layer's entries to `onEntry` in archive order, as they arrive; bodies are skipped. */
export const peekLayer = async (layer: Layer, onEntry: (entry: ListedEntry) => Promise<void> | void, options: PeekOptions = {}): Promise<PeekTotals> => {
  const totals: PeekTotals = { entries: 0, files: 0, bytes: 0, deleted: 0, opaque: 0 }
  const emit = options.onEvent ?? (() => {})
  emit({ type: 'layer-start', digest: layer.digest, index: layer.index, size: layer.size })
  for await (const entry of layer.entries({
    ...(options.signal ? { signal: options.signal } : {}),
    onProgress: (bytes) => emit({ type: 'layer-progress', digest: layer.digest, bytes, size: layer.size }),
  })) {
    const listed = listedEntry(entry)
    totals.entries++
    if (listed.kind === 'deleted') totals.deleted++
    else if (listed.kind === 'opaque') totals.opaque++
    else if (listed.type !== 'directory') {
      totals.files++
      totals.bytes += listed.size
    }
    await onEntry(listed)
  }
  emit({ type: 'layer-done', digest: layer.digest, files: totals.files, bytes: totals.bytes, matches: 0, cached: false })
  return totals
}

export const layerHeading = (layer: Layer, step: string): string =>
  `layer ${layer.index}  ${layer.digest}  ${shortMediaType(layer.mediaType)}  ${humanSize(layer.size)}${step ? `\n  ${cleanStep(step)}` : ''}\n`

export const totalsLine = (totals: PeekTotals): string =>
  `  ${totals.files} file${totals.files === 1 ? '' : 's'} (${humanSize(totals.bytes)})${totals.deleted ? `, ${totals.deleted} deleted` : ''}${totals.opaque ? `, ${totals.opaque} opaque director${totals.opaque === 1 ? 'y' : 'ies'}` : ''}\n`

/** Prints the layers' listings to `write`: text with a heading per layer, or JSON Lines (one object per entry). */
export const printLayerListings = async (
  layers: Layer[],
  steps: string[],
  write: Writer,
  format: OutputFormat,
  options: PeekOptions = {},
): Promise<PeekTotals[]> => {
  const all: PeekTotals[] = []
  for (const [position, layer] of layers.entries()) {
    if (format === 'text') await write(`${position > 0 ? '\n' : ''}${layerHeading(layer, steps[layer.index] ?? '')}\n`)
    const totals = await peekLayer(
      layer,
      (entry) =>
        write(
          format === 'text' ? `${formatListedEntry(entry)}\n` : `${JSON.stringify({ layer: layer.index, layer_digest: layer.digest, ...listedEntryJson(entry) })}\n`,
        ),
      options,
    )
    if (format === 'text') await write(`\n${totalsLine(totals)}`)
    all.push(totals)
  }
  return all
}

export const peekArgs = {
  ...explorerArgs,
  layer: { type: 'string' as const, alias: 'l', description: 'layer index, comma-separated indexes, or "all" (default: all)' },
}

export const runPeek = async (args: Record<string, unknown>, write: Writer): Promise<number> => {
  const format = outputFormat(args.format)
  const environment = await openEnvironment(args, { jsonOutput: format === 'json' })
  try {
    const target = await targetOfArgs(args, environment)
    const [config, layers] = await Promise.all([target.config(), target.layers()])
    const selection = parseLayerSelection(args.layer, layers.length) ?? layers.map((layer) => layer.index)
    const chosen = selection.map((index) => layers.find((layer) => layer.index === index)).filter((layer): layer is Layer => layer !== undefined)
    const steps = buildStepsForLayers(config.history, Math.max(0, ...layers.map((layer) => layer.index + 1)))
    // listing to a terminal is its own progress; a progress line only when the listing goes to a file or pipe
    const progress = layerProgress(target.reference, chosen, process.stderr.isTTY === true && process.stdout.isTTY !== true)
    try {
      await printLayerListings(chosen, steps, write, format, { onEvent: (event) => progress.onEvent(event) })
    } finally {
      progress.done()
    }
    return ExitCode.clean
  } finally {
    await environment.close()
  }
}

export const peekCommand = defineCommand({
  meta: { name: 'peek', description: "list a layer's files as it streams (deletions and opaque directories included), without pulling the image" },
  args: peekArgs,
  async run({ args }) {
    await runCommand(() => runPeek(args, streamWriter(process.stdout)))
  },
})
