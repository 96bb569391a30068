/**
 * `layerleak layers <ref>`: the platforms of an index, and for one platform the build steps from the
 * config history aligned with the layers they produced (digest, media type, compressed size, file
 * count on request), the config's entrypoint/cmd/user/workdir and env (values hidden unless
 * --show-env). `--analyze` adds the dive-style analysis, `--ci` turns it into a gate (exit 2).
 */
import { defineCommand } from 'citty'
import type { ImageConfig, Layer, Target } from '../core/contracts.ts'
import { LayerleakError } from '../core/errors.ts'
import { classifyWhiteout } from '../core/filesystem-index.ts'
import { analyzeLayers, type CiCheck, type CiThresholds, defaultCiThresholds, evaluateCi, type ImageAnalysis } from '../core/layer-analysis.ts'
import { formatPlatform } from '../core/platform.ts'
import { redactValue } from '../core/redact.ts'
import { parseSize } from '../core/settings.ts'
import { ExitCode } from './exit-codes.ts'
import { chooseTarget, explorerArgs, openEnvironment, outputFormat, resolveTargets } from './explorer-target.ts'
import { layerProgress, readLayersMetadata, runCommand, streamWriter, type Writer } from './explorer-io.ts'
import { displayPath, formatMode } from './entry-listing.ts'
import { cleanStep, humanSize, shortDigest } from './format.ts'

export interface PlatformSummary {
  platform: string
  manifest_digest: string
  selected: boolean
}

export interface BuildStepSummary {
  /** position in the config history */
  index: number
  created_by: string
  created?: string
  comment?: string
  empty_layer: boolean
  /** the layer this step produced (absent for metadata-only steps) */
  layer?: number
}

export interface LayerSummary {
  index: number
  digest: string
  media_type: string
  size: number
  /** non-directory entries (whiteout markers excluded), when the layer was read */
  files?: number
  /** the history step that produced it, '' when the history does not say */
  build_step: string
}

export interface LayersReport {
  reference: string
  repository: string
  resolved_digest: string
  resolved_media_type: string
  platforms: PlatformSummary[]
  platform: string
  manifest_digest: string
  config_digest: string
  config: {
    env: string[]
    env_redacted: boolean
    entrypoint: string[]
    cmd: string[]
    user: string
    working_dir: string
    exposed_ports: string[]
    volumes: string[]
    labels: Record<string, string>
  }
  steps: BuildStepSummary[]
  layers: LayerSummary[]
  /** compressed bytes of all layers */
  total_size: number
  analysis?: ImageAnalysis & { ci?: CiCheck[] }
}

/** `NAME=value` -> `NAME=********` (redactValue keeps a format prefix only for long values) */
export const redactEnv = (entry: string): string => {
  const equals = entry.indexOf('=')
  if (equals < 0) return entry
  const value = entry.slice(equals + 1)
  return value ? `${entry.slice(0, equals + 1)}${redactValue(value)}` : entry
}

/** Hides env values where a history step repeats them (`ENV API_TOKEN=...`). */
const redactStep = (step: string, env: string[]): string => {
  let text = step
  for (const entry of env) {
    const equals = entry.indexOf('=')
    if (equals < 0 || equals === entry.length - 1) continue
    if (text.includes(entry)) text = text.split(entry).join(redactEnv(entry))
  }
  return text
}

export interface DescribeInput {
  targets: Target[]
  target: Target
  config: ImageConfig
  layers: Layer[]
  showEnv?: boolean
  /** files per layer index, when counted */
  fileCounts?: number[]
  analysis?: ImageAnalysis & { ci?: CiCheck[] }
}

/** The report `layers` prints, from what the source resolved. Pure. */
export const describeImage = ({ targets, target, config, layers, showEnv = false, fileCounts, analysis }: DescribeInput): LayersReport => {
  const steps: BuildStepSummary[] = []
  let layerIndex = 0
  config.history.forEach((entry, index) => {
    const step: BuildStepSummary = {
      index,
      created_by: showEnv ? (entry.created_by ?? '') : redactStep(entry.created_by ?? '', config.env),
      empty_layer: entry.empty_layer,
      ...(entry.created ? { created: entry.created } : {}),
      ...(entry.comment ? { comment: entry.comment } : {}),
    }
    // the image-spec rule: non-empty history entries map to layers in order
    if (!entry.empty_layer && layerIndex < layers.length) step.layer = layers[layerIndex++].index
    steps.push(step)
  })
  const stepOfLayer = new Map(steps.filter((step) => step.layer !== undefined).map((step) => [step.layer as number, step.created_by || step.comment || '']))
  return {
    reference: target.reference,
    repository: target.repository,
    resolved_digest: target.resolvedDigest,
    resolved_media_type: target.resolvedMediaType,
    platforms: targets.map((candidate) => ({
      platform: formatPlatform(candidate.platform) || formatPlatform(candidate === target ? config.platform : undefined),
      manifest_digest: candidate.manifest.digest,
      selected: candidate === target,
    })),
    platform: formatPlatform(target.platform ?? config.platform),
    manifest_digest: target.manifest.digest,
    config_digest: config.digest,
    config: {
      env: showEnv ? config.env : config.env.map(redactEnv),
      env_redacted: !showEnv,
      entrypoint: config.entrypoint,
      cmd: config.cmd,
      user: config.user,
      working_dir: config.workingDir,
      exposed_ports: config.exposedPorts,
      volumes: config.volumes,
      labels: config.labels,
    },
    steps,
    layers: layers.map((layer) => ({
      index: layer.index,
      digest: layer.digest,
      media_type: layer.mediaType,
      size: layer.size,
      ...(fileCounts?.[layer.index] !== undefined ? { files: fileCounts[layer.index] } : {}),
      build_step: stepOfLayer.get(layer.index) ?? '',
    })),
    total_size: layers.reduce((sum, layer) => sum + layer.size, 0),
    ...(analysis ? { analysis } : {}),
  }
}

/** `application/vnd.oci.image.layer.v1.tar+gzip` -> `tar+gzip` */
export const shortMediaType = (mediaType: string): string =>
  mediaType
    .replace(/^application\/vnd\.oci\.image\.layer\.(nondistributable\.)?v1\./, (_, nd) => (nd ? 'nondistributable ' : ''))
    .replace(/^application\/vnd\.docker\.image\.rootfs\.(foreign\.)?diff\./, (_, foreign) => (foreign ? 'foreign docker ' : 'docker '))

const percent = (ratio: number): string => `${(ratio * 100).toFixed(1)} %`
const json = (values: string[]): string => JSON.stringify(values)

const layerLine = (layer: LayerSummary): string =>
  `layer ${layer.index}  ${shortDigest(layer.digest)}  ${shortMediaType(layer.media_type)}  ${humanSize(layer.size)}${layer.files !== undefined ? `  ${layer.files} file${layer.files === 1 ? '' : 's'}` : ''}`

export const renderAnalysisText = (analysis: ImageAnalysis & { ci?: CiCheck[] }, layers: LayerSummary[]): string => {
  const lines: string[] = ['', 'Analysis:']
  const totals = (count: number, bytes: number) => (count === 0 ? '-' : `${count} (${humanSize(bytes)})`)
  const rows = analysis.layers.map((delta) => [
    String(delta.index),
    totals(delta.added.count, delta.added.bytes),
    totals(delta.modified.count, delta.modified.bytes),
    totals(delta.removed.count, delta.removed.bytes),
    cleanStep(layers.find((layer) => layer.index === delta.index)?.build_step ?? ''),
  ])
  const header = ['layer', 'added', 'modified', 'removed', 'step']
  const widths = header.slice(0, 4).map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)))
  const format = (row: string[]) => `  ${row.slice(0, 4).map((cell, column) => cell.padEnd(widths[column])).join('  ')}  ${row[4]}`.trimEnd()
  lines.push(format(header), ...rows.map(format))
  lines.push(
    '',
    `  efficiency          ${percent(analysis.efficiency)}`,
    `  wasted              ${humanSize(analysis.wastedBytes)} of ${humanSize(analysis.totalBytes)} (user layers: ${percent(analysis.userWastedPercent)} of ${humanSize(analysis.userBytes)})`,
    `  final image         ${analysis.finalFiles} files, ${humanSize(analysis.finalBytes)}`,
  )
  if (analysis.wasted.length > 0) {
    lines.push('', 'Removed or overwritten by a later layer (still downloadable; where deleted secrets hide):')
    for (const file of analysis.wasted.slice(0, 50)) {
      lines.push(`  ${humanSize(file.size).padStart(9)}  ${file.path}  (layer ${file.layer}, ${file.how} by layer ${file.removedBy})`)
    }
    if (analysis.wasted.length > 50) lines.push(`  … and ${analysis.wasted.length - 50} more (--format json lists all)`)
  }
  const risky = (title: string, files: ImageAnalysis['setuid']) => {
    if (files.length === 0) return
    lines.push('', `${title}:`)
    for (const file of files) lines.push(`  ${formatMode(file.type, file.mode)}  layer ${file.layer}  ${displayPath(file.path, file.type)}`)
  }
  risky('World-writable', analysis.worldWritable)
  risky('Setuid', analysis.setuid)
  risky('Setgid', analysis.setgid)
  if (analysis.tools.length > 0) {
    lines.push('', 'Shells, compilers, debuggers and network tools in the final image:')
    for (const tool of analysis.tools) lines.push(`  ${tool.kind.padEnd(16)} ${tool.path}  (layer ${tool.layer})`)
  }
  if (analysis.ci) {
    lines.push('', 'CI:')
    for (const check of analysis.ci) {
      const value = (n: number) => (check.rule === 'highest-wasted-bytes' ? `${humanSize(n)}${n >= 1024 ? ` (${n} B)` : ''}` : `${Number((n * 100).toFixed(3))} %`)
      const relation = check.rule === 'lowest-efficiency' ? '>=' : '<='
      lines.push(`  ${check.passed ? 'PASS' : 'FAIL'}  ${check.rule}: ${value(check.actual)} (must be ${relation} ${value(check.threshold)})`)
    }
  }
  return `${lines.join('\n')}\n`
}

export const renderLayersText = (report: LayersReport): string => {
  const lines: string[] = [`Image     ${report.reference}`, `Digest    ${report.resolved_digest}`]
  if (report.platforms.length > 1 || report.resolved_digest !== report.manifest_digest) {
    lines.push('', 'Platforms:')
    report.platforms.forEach((platform, i) => {
      lines.push(`  ${platform.selected ? '*' : ' '} [${i}] ${(platform.platform || 'unknown').padEnd(16)} ${platform.manifest_digest}`)
    })
  }
  lines.push('', `Platform  ${report.platform || 'unknown'}`, `Manifest  ${report.manifest_digest}`, `Config    ${report.config_digest}`)
  const config = report.config
  const field = (name: string, value: string) => {
    if (value) lines.push(`  ${name.padEnd(12)}${value}`)
  }
  lines.push('', 'Config:')
  field('Entrypoint', config.entrypoint.length ? json(config.entrypoint) : '')
  field('Cmd', config.cmd.length ? json(config.cmd) : '')
  field('User', config.user)
  field('WorkingDir', config.working_dir)
  field('Ports', config.exposed_ports.join(' '))
  field('Volumes', config.volumes.join(' '))
  config.env.forEach((entry, i) => field(i === 0 ? 'Env' : '', entry))
  if (config.env.length > 0 && config.env_redacted) lines.push(`  ${''.padEnd(12)}(values hidden: --show-env shows them)`)
  const labels = Object.entries(config.labels)
  labels.forEach(([key, value], i) => field(i === 0 ? 'Labels' : '', `${key}=${value}`))

  lines.push('', `Build steps (${report.steps.length}) and layers (${report.layers.length}, ${humanSize(report.total_size)} compressed):`)
  const width = String(Math.max(0, report.steps.length - 1)).length + 2
  for (const step of report.steps) {
    const text = cleanStep(step.created_by || step.comment || '') || '(no command recorded)'
    lines.push(`  ${`[${step.index}]`.padEnd(width)} ${text}${step.layer === undefined ? ' (metadata only)' : ''}`)
    const layer = step.layer === undefined ? undefined : report.layers.find((candidate) => candidate.index === step.layer)
    if (layer) lines.push(`  ${''.padEnd(width)}   ${layerLine(layer)}`)
  }
  const unmatched = report.layers.filter((layer) => !report.steps.some((step) => step.layer === layer.index))
  if (unmatched.length > 0) {
    lines.push('  (layers the history does not account for)')
    for (const layer of unmatched) lines.push(`  ${''.padEnd(width)}   ${layerLine(layer)}`)
  }
  const text = `${lines.join('\n')}\n`
  return report.analysis ? text + renderAnalysisText(report.analysis, report.layers) : text
}

const parseRatio = (value: unknown, flag: string): number | undefined => {
  if (value === undefined || value === '') return undefined
  const ratio = Number(String(value).replace(/%$/, '')) / (String(value).endsWith('%') ? 100 : 1)
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new LayerleakError('INVALID_ARGUMENT', `--${flag} takes a ratio between 0 and 1, e.g. 0.9 or 90% (got "${String(value)}")`)
  return ratio
}

/** The CI thresholds from flags; dive's defaults fill in what is not given. */
export const ciThresholdsFromArgs = (args: Record<string, unknown>): CiThresholds => {
  const thresholds: CiThresholds = { ...defaultCiThresholds }
  const efficiency = parseRatio(args['lowest-efficiency'], 'lowest-efficiency')
  const userWasted = parseRatio(args['highest-user-wasted-percent'], 'highest-user-wasted-percent')
  if (efficiency !== undefined) thresholds.lowestEfficiency = efficiency
  if (userWasted !== undefined) thresholds.highestUserWastedPercent = userWasted
  const wasted = args['highest-wasted-bytes']
  if (wasted !== undefined && wasted !== '') {
    try {
      thresholds.highestWastedBytes = parseSize(String(wasted))
    } catch (error) {
      throw new LayerleakError('INVALID_ARGUMENT', `--highest-wasted-bytes: ${(error as Error).message}`)
    }
  }
  return thresholds
}

export const layersArgs = {
  ...explorerArgs,
  'count-files': { type: 'boolean' as const, description: 'stream every layer to count its files' },
  'show-env': { type: 'boolean' as const, description: 'print env values (hidden by default: they often hold secrets)' },
  analyze: { type: 'boolean' as const, description: 'stream every layer: bytes added/modified/removed, wasted bytes, efficiency, risky files and tools' },
  ci: { type: 'boolean' as const, description: 'with --analyze: exit 2 when a threshold is exceeded' },
  'lowest-efficiency': { type: 'string' as const, description: 'CI: lowest efficiency allowed (default 0.9)' },
  'highest-wasted-bytes': { type: 'string' as const, description: 'CI: most wasted bytes allowed, e.g. 20MB (default: unchecked)' },
  'highest-user-wasted-percent': { type: 'string' as const, description: 'CI: highest ratio of wasted bytes to user-layer bytes (default 0.1)' },
  interactive: { type: 'boolean' as const, alias: 'i', description: 'on a terminal: choose the platform, then layers to peek or save' },
  'log-file': { type: 'string' as const, description: 'with --interactive: also write everything shown to FILE' },
  output: { type: 'string' as const, alias: 'o', description: 'with --interactive: where saved layers go (default: <name>_<manifest digest>)' },
}

/** The `layers` command's work; returns the exit code. */
export const runLayers = async (args: Record<string, unknown>, write: Writer): Promise<number> => {
  const format = outputFormat(args.format)
  const analyze = args.analyze === true || args.ci === true
  const thresholds = args.ci === true ? ciThresholdsFromArgs(args) : undefined
  const environment = await openEnvironment(args, { jsonOutput: format === 'json' })
  try {
    const reference = String(args.reference)
    const targets = await resolveTargets(reference, { sources: environment.sources, limits: environment.limits, report: (d) => environment.logger.debug(`${d.code}: ${d.message}`) })
    const target = chooseTarget(targets, typeof args.platform === 'string' ? args.platform : undefined)
    const [config, layers] = await Promise.all([target.config(), target.layers()])
    let fileCounts: number[] | undefined
    let analysis: (ImageAnalysis & { ci?: CiCheck[] }) | undefined
    if (analyze || args['count-files'] === true) {
      const progress = layerProgress(target.reference, layers)
      try {
        const metadata = await readLayersMetadata(layers, { onEvent: (event) => progress.onEvent(event) })
        fileCounts = []
        layers.forEach((layer, i) => {
          fileCounts![layer.index] = metadata[i].filter((entry) => entry.type !== 'directory' && !classifyWhiteout(entry.path)).length
        })
        if (analyze) {
          const byIndex: (typeof metadata)[number][] = []
          layers.forEach((layer, i) => {
            byIndex[layer.index] = metadata[i]
          })
          const result = analyzeLayers(Array.from({ length: byIndex.length }, (_, i) => byIndex[i] ?? []))
          analysis = thresholds ? { ...result, ci: evaluateCi(result, thresholds) } : result
        }
      } finally {
        progress.done()
      }
    }
    const report = describeImage({ targets, target, config, layers, showEnv: args['show-env'] === true, ...(fileCounts ? { fileCounts } : {}), ...(analysis ? { analysis } : {}) })
    await write(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderLayersText(report))
    const failed = analysis?.ci?.filter((check) => !check.passed) ?? []
    if (failed.length > 0) {
      environment.logger.error(`CI thresholds exceeded: ${failed.map((check) => check.rule).join(', ')}`)
      return ExitCode.findings
    }
    return ExitCode.clean
  } finally {
    await environment.close()
  }
}

export const layersCommand = defineCommand({
  meta: { name: 'layers', description: 'list platforms, build steps and layers of an image without pulling it (--analyze: wasted space, risky files)' },
  args: layersArgs,
  async run({ args }) {
    if (args.interactive) {
      const { runExplore } = await import('./explore.ts')
      return runCommand(() => runExplore(args))
    }
    await runCommand(() => runLayers(args, streamWriter(process.stdout)))
  },
})

