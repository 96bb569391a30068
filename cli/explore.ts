/**
 * `layerleak explore <ref>` (and `layers --interactive`): the layerslayer walk-through on a
 * terminal. Choose the platform of a multi-platform image, see the build steps and layers, then
 * peek into layers and save the ones worth keeping, one prompt at a time. `--log-file FILE` keeps a
 * copy of everything shown (escape sequences stripped), as layerslayer's `-l` does.
 */
import { createWriteStream, type WriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import { defineCommand } from 'citty'
import { consola } from 'consola'
import { buildStepsForLayers } from '../core/build-steps.ts'
import type { Layer, Target } from '../core/contracts.ts'
import { LayerleakError } from '../core/errors.ts'
import type { ScanEvent } from '../core/events.ts'
import { formatPlatform } from '../core/platform.ts'
import { describeError, ExitCode } from './exit-codes.ts'
import { chooseTarget, explorerArgs, openEnvironment, resolveTargets } from './explorer-target.ts'
import { layerProgress, runCommand, streamWriter, type Writer } from './explorer-io.ts'
import { fsReport, mergeTargetLayers, renderDeletedText } from './fs.ts'
import { cleanStep, humanSize, shortDigest } from './format.ts'
import { describeImage, renderLayersText, shortMediaType } from './layers.ts'
import { printLayerListings } from './peek.ts'
import { defaultPullDirectory, pullLayer, renderPullText } from './pull.ts'

/** The prompts the walk-through asks; consola's by default, a script in tests. */
export interface Prompter {
  select(message: string, options: { label: string; value: string; hint?: string }[]): Promise<string | undefined>
  multiselect(message: string, options: { label: string; value: string; hint?: string }[]): Promise<string[] | undefined>
  confirm(message: string, initial: boolean): Promise<boolean | undefined>
}

const CANCEL = Symbol.for('cancel')
const orUndefined = <T>(value: unknown): T | undefined => (value === CANCEL || value === undefined || value === null ? undefined : (value as T))

export const consolaPrompter: Prompter = {
  select: async (message, options) => orUndefined<string>(await consola.prompt(message, { type: 'select', options, cancel: 'symbol' })),
  multiselect: async (message, options) => {
    const picked = orUndefined<Array<string | { value: string }>>(await consola.prompt(message, { type: 'multiselect', options, required: false, cancel: 'symbol' }))
    return picked?.map((option) => (typeof option === 'string' ? option : option.value))
  },
  confirm: async (message, initial) => orUndefined<boolean>(await consola.prompt(message, { type: 'confirm', initial, cancel: 'symbol' })),
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]|\u001b\][^\u0007]*\u0007|\r/g

/**
 * Copies everything written to stdout and stderr into `file` (escape sequences stripped) until the
 * returned function is called.
 */
export const teeOutput = (file: string): { stop(): Promise<void> } => {
  const log: WriteStream = createWriteStream(resolve(file), { flags: 'w', mode: 0o600 })
  const streams = [process.stdout, process.stderr] as const
  const originals = streams.map((stream) => stream.write.bind(stream))
  streams.forEach((stream, i) => {
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
      log.write(text.replace(ANSI, ''))
      return (originals[i] as (...args: unknown[]) => boolean)(chunk, ...rest)
    }) as typeof stream.write
  })
  return {
    stop: () =>
      new Promise<void>((done) => {
        streams.forEach((stream, i) => {
          stream.write = originals[i] as typeof stream.write
        })
        log.end(done)
      }),
  }
}

const layerOption = (layer: Layer, steps: string[]) => ({
  value: String(layer.index),
  label: `[${layer.index}] ${shortDigest(layer.digest)}  ${humanSize(layer.size)}  ${shortMediaType(layer.mediaType)}`,
  hint: cleanStep(steps[layer.index] ?? '').slice(0, 60),
})

export interface ExploreIo {
  prompter: Prompter
  write: Writer
}

/** The walk-through itself, over resolved targets. Returns when the user quits. */
export const exploreTargets = async (targets: Target[], args: Record<string, unknown>, io: ExploreIo): Promise<void> => {
  const { prompter, write } = io
  let target: Target
  if (typeof args.platform === 'string' || targets.length === 1) target = chooseTarget(targets, typeof args.platform === 'string' ? args.platform : undefined)
  else {
    await write(`${targets.length} platforms:\n`)
    const picked = await prompter.select(
      'Select a platform',
      targets.map((candidate, i) => ({ value: String(i), label: `[${i}] ${formatPlatform(candidate.platform) || 'unknown'}`, hint: shortDigest(candidate.manifest.digest) })),
    )
    if (picked === undefined) return
    target = targets[Number(picked)]
  }
  const [config, layers] = await Promise.all([target.config(), target.layers()])
  const steps = buildStepsForLayers(config.history, Math.max(0, ...layers.map((layer) => layer.index + 1)))
  await write(renderLayersText(describeImage({ targets, target, config, layers })))
  // the directory comes from -o (no free-text prompt: Bun's readline drops what is typed into one)
  const dir = resolve(typeof args.output === 'string' && args.output ? args.output : defaultPullDirectory(target))
  const save = async (chosen: Layer[]) => {
    await mkdir(dir, { recursive: true })
    const progress = layerProgress(target.reference, chosen)
    const pulled = []
    try {
      // a resumed or discarded partial download is worth a line of the session, not only a progress tick
      const onEvent = (event: ScanEvent) => (event.type === 'diagnostic' ? void write(`warning: ${event.diagnostic.message}\n`) : progress.onEvent(event))
      for (const layer of chosen) pulled.push(await pullLayer(layer, dir, { onEvent }))
    } finally {
      progress.done()
    }
    await write(renderPullText({ reference: target.reference, platform: formatPlatform(target.platform), manifest_digest: target.manifest.digest, directory: dir, layers: pulled }))
  }
  const byIndex = (value: string) => layers.find((layer) => String(layer.index) === value) as Layer
  for (;;) {
    const action = await prompter.select('What next?', [
      { value: 'peek', label: 'Peek into a layer' },
      { value: 'save', label: 'Save layers', hint: dir },
      { value: 'peek-all', label: 'Peek into all layers' },
      { value: 'save-all', label: 'Save all layers', hint: dir },
      { value: 'deleted', label: 'List files later layers removed or replaced' },
      { value: 'quit', label: 'Quit' },
    ])
    if (action === undefined || action === 'quit') return
    if (action === 'peek') {
      const picked = await prompter.select('Peek into which layer?', layers.map((layer) => layerOption(layer, steps)))
      if (picked === undefined) continue
      const layer = byIndex(picked)
      await printLayerListings([layer], steps, write, 'text')
      if (await prompter.confirm(`Save layer ${layer.index} into ${dir}?`, false)) await save([layer])
    } else if (action === 'peek-all') {
      await printLayerListings(layers, steps, write, 'text')
    } else if (action === 'save') {
      const picked = await prompter.multiselect('Save which layers? (space selects, enter confirms)', layers.map((layer) => layerOption(layer, steps)))
      if (picked?.length) await save(picked.map(byIndex))
    } else if (action === 'save-all') {
      await save(layers)
    } else if (action === 'deleted') {
      const progress = layerProgress(target.reference, layers)
      let merged
      try {
        merged = await mergeTargetLayers(layers, { onEvent: (event) => progress.onEvent(event) })
      } finally {
        progress.done()
      }
      const report = fsReport(merged, { reference: target.reference, platform: formatPlatform(target.platform), manifest_digest: target.manifest.digest }, { deleted: true })
      await write(renderDeletedText(report.deleted ?? []))
    }
  }
}

export const exploreArgs = {
  ...explorerArgs,
  'log-file': { type: 'string' as const, description: 'also write everything shown to FILE' },
  output: { type: 'string' as const, alias: 'o', description: 'where saved layers go (default: <name>_<manifest digest>)' },
}

export const runExplore = async (args: Record<string, unknown>, io: ExploreIo = { prompter: consolaPrompter, write: streamWriter(process.stdout) }): Promise<number> => {
  if (io.prompter === consolaPrompter && !process.stdin.isTTY) {
    throw new LayerleakError('INVALID_ARGUMENT', 'interactive mode needs a terminal; in scripts use `layers`, `peek --layer N` and `pull --layer N`')
  }
  const tee = typeof args['log-file'] === 'string' && args['log-file'] ? teeOutput(args['log-file']) : undefined
  try {
    const environment = await openEnvironment(args)
    try {
      const targets = await resolveTargets(String(args.reference), { sources: environment.sources, limits: environment.limits })
      await exploreTargets(targets, args, io)
      return ExitCode.clean
    } finally {
      await environment.close()
    }
  } catch (error) {
    // reported here, not by the caller, so the log file says how it ended too
    process.stderr.write(`layerleak: ${describeError(error).message}\n`)
    return ExitCode.error
  } finally {
    await tee?.stop()
  }
}

export const exploreCommand = defineCommand({
  meta: { name: 'explore', description: 'interactive: choose a platform, see build steps and layers, peek into layers and save them' },
  args: exploreArgs,
  async run({ args }) {
    await runCommand(() => runExplore(args))
  },
})
