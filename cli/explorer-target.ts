/**
 * What every "look inside" command shares: the flags (reference, platform, format, credentials,
 * settings), the scan environment (so config, environment variables, flags and registry credentials
 * behave exactly as for `scan`), and the step from a reference to the one platform image to show.
 */
import type { Layer, Source, Target } from '../core/contracts.ts'
import { LayerleakError } from '../core/errors.ts'
import { formatPlatform, isRealPlatform, parsePlatform, platformMatches } from '../core/platform.ts'
import type { Diagnostic } from '../core/result.ts'
import type { ScanEnvironment } from './scan-environment.ts'
import { settingsArgs } from './settings-args.ts'

export const FORMATS = ['text', 'json'] as const
export type OutputFormat = (typeof FORMATS)[number]

export const explorerArgs = {
  reference: {
    type: 'positional' as const,
    description: 'image reference (alpine:3.20, ghcr.io/org/app@sha256:…), oci:<dir>[:tag] or docker-archive:<file.tar>',
    required: true,
  },
  platform: { type: 'string' as const, description: 'platform of a multi-platform image (os/arch[/variant]); default: the first one' },
  format: { type: 'string' as const, description: 'text | json', default: 'text' },
  config: { type: 'string' as const, description: 'config file (default: layerleak.config.{ts,js,json} in the working directory)' },
  username: { type: 'string' as const, description: 'registry user name (with --password-stdin)' },
  'password-stdin': { type: 'boolean' as const, description: 'read the registry password or token from stdin' },
  verbose: { type: 'boolean' as const, alias: 'v', description: 'debug logs' },
  quiet: { type: 'boolean' as const, alias: 'q', description: 'errors only on stderr' },
  ...settingsArgs,
}

export const outputFormat = (value: unknown): OutputFormat => {
  const format = value ?? 'text'
  if (typeof format === 'string' && (FORMATS as readonly string[]).includes(format)) return format as OutputFormat
  throw new LayerleakError('INVALID_ARGUMENT', `--format must be one of ${FORMATS.join(', ')} (got "${String(format)}")`)
}

/** `--layer 2`, `--layer 0,3`, `--layer all`; undefined when not given */
export const parseLayerSelection = (value: unknown, layerCount: number): number[] | undefined => {
  if (value === undefined || value === '' || value === true) return undefined
  const text = String(value).trim()
  if (text === 'all') return Array.from({ length: layerCount }, (_, i) => i)
  const indexes = text.split(',').map((part) => {
    const index = Number(part.trim())
    if (!Number.isInteger(index) || index < 0) throw new LayerleakError('INVALID_ARGUMENT', `--layer takes a layer index, a comma-separated list or "all" (got "${text}")`)
    if (index >= layerCount) throw new LayerleakError('INVALID_ARGUMENT', `--layer ${index}: the image has ${layerCount} layer${layerCount === 1 ? '' : 's'} (0-${layerCount - 1})`)
    return index
  })
  return [...new Set(indexes)]
}

const readStdin = async (): Promise<string> => {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}

/** The environment `scan` would build for the same flags, with --username/--password-stdin honoured. */
export const openEnvironment = async (args: Record<string, unknown>, options: { jsonOutput?: boolean } = {}): Promise<ScanEnvironment> => {
  let credentials: { username: string; password: string } | undefined
  if (args['password-stdin']) {
    if (typeof args.username !== 'string') throw new LayerleakError('INVALID_ARGUMENT', '--password-stdin needs --username')
    credentials = { username: args.username, password: await readStdin() }
  } else if (typeof args.username === 'string') {
    throw new LayerleakError('INVALID_ARGUMENT', '--username needs --password-stdin (passwords are never taken as flags)')
  }
  const logLevel = args.quiet ? ('error' as const) : args.verbose ? ('debug' as const) : options.jsonOutput ? ('warn' as const) : undefined
  // loaded on use: the commands' logic is importable (and testable) without every plugin
  const { createScanEnvironment } = await import('./scan-environment.ts')
  return createScanEnvironment({ args, ...(credentials ? { credentials } : {}), ...(logLevel ? { logLevel } : {}) })
}

export interface ResolveContext {
  sources: Source[]
  limits: ScanEnvironment['limits']
  signal?: AbortSignal
  report?: (diagnostic: Diagnostic) => void
}

const sourceFor = (reference: string, sources: Source[]): Source => {
  const source = sources.find((candidate) => candidate.accepts(reference))
  if (!source) throw new LayerleakError('INVALID_REFERENCE', `no source accepts "${reference}"`)
  return source
}

/** Every platform image the reference names (attestations already left out by the source). */
export const resolveTargets = async (reference: string, context: ResolveContext): Promise<Target[]> => {
  const targets: Target[] = []
  for await (const target of sourceFor(reference, context.sources).resolve(reference, {
    limits: context.limits,
    report: context.report ?? (() => {}),
    ...(context.signal ? { signal: context.signal } : {}),
  })) {
    targets.push(target)
  }
  if (targets.length === 0) throw new LayerleakError('NOT_FOUND', `${reference} has no platform image`)
  return targets
}

/** The target for `--platform`, else the first real platform, else the first. */
export const chooseTarget = (targets: Target[], platform?: string): Target => {
  if (platform) {
    const wanted = parsePlatform(platform)
    const found = targets.find((target) => platformMatches(wanted, target.platform))
    if (!found) {
      const available = targets.map((target) => formatPlatform(target.platform) || 'unknown').join(', ')
      throw new LayerleakError('PLATFORM_NOT_FOUND', `no ${platform} image (available: ${available})`)
    }
    return found
  }
  return targets.find((target) => isRealPlatform(target.platform)) ?? targets[0]
}

/**
 * The one platform image to look into, without resolving the others: the source narrows an index
 * to `--platform` itself, and without it the first platform it yields is taken (iteration stops
 * there, so other platforms' manifests are not fetched).
 */
export const resolveTarget = async (reference: string, context: ResolveContext & { platform?: string }): Promise<Target> => {
  const source = sourceFor(reference, context.sources)
  let fallback: Target | undefined
  for await (const target of source.resolve(reference, {
    limits: context.limits,
    report: context.report ?? (() => {}),
    ...(context.platform ? { platform: context.platform } : {}),
    ...(context.signal ? { signal: context.signal } : {}),
  })) {
    if (context.platform) {
      if (platformMatches(parsePlatform(context.platform), target.platform) || !target.platform) return target
      continue
    }
    if (isRealPlatform(target.platform) || !target.platform) return target
    fallback ??= target
  }
  if (fallback) return fallback
  throw new LayerleakError(context.platform ? 'PLATFORM_NOT_FOUND' : 'NOT_FOUND', `${reference} has no ${context.platform ?? 'platform'} image`)
}

/** The layer at `index`, with a clear error naming the range. */
export const layerAt = (layers: Layer[], index: number): Layer => {
  const layer = layers.find((candidate) => candidate.index === index)
  if (!layer) throw new LayerleakError('INVALID_ARGUMENT', `--layer ${index}: the image has ${layers.length} layer${layers.length === 1 ? '' : 's'} (0-${layers.length - 1})`)
  return layer
}

/** The short form of a target for headings: `reference (linux/amd64, sha256:abc…)` */
export const describeTarget = (target: Target): string => {
  const platform = formatPlatform(target.platform)
  return `${target.reference}${platform ? ` (${platform})` : ''}`
}

/** The target a command's `<reference>` and `--platform` name, through the environment's sources. */
export const targetOfArgs = (args: Record<string, unknown>, environment: Pick<ScanEnvironment, 'sources' | 'limits'>): Promise<Target> =>
  resolveTarget(String(args.reference), {
    sources: environment.sources,
    limits: environment.limits,
    ...(typeof args.platform === 'string' ? { platform: args.platform } : {}),
  })
