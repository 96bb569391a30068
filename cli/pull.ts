/**
 * `layerleak pull <ref> [--layer N|all] [-o DIR] [--extract]`: saves layer blobs as
 * `DIR/<digest-hex>.tar.gz|.tar.zst|.tar` (the extension from the bytes, not the media type, which
 * tools get wrong). Each blob is written to `DIR/.<digest-hex>.partial` and renamed into place only
 * when complete and its whole digest verified, so DIR never holds a partial or wrong blob under its
 * real name; a file already there that verifies is not downloaded again.
 *
 * An interrupted download (Ctrl-C, a network failure, a kill) keeps its partial file, and the next
 * pull into the same DIR resumes it (blob-download.ts): the kept bytes are hashed, the rest is
 * asked for from there (`Range: bytes=N-` from a registry, a positioned read from `oci:` and
 * `docker-archive:`), and the whole digest is checked at the end. A registry that ignores the range
 * makes it start over (the partial is truncated, never spliced); kept bytes that prove wrong, or a
 * partial larger than the blob, are discarded for one download from scratch (a warning says so).
 * `DIR/.<digest-hex>.partial.lock` (pull-lock.ts) keeps two pulls from writing one partial: the
 * second fails for that layer, naming the first; a lock whose process is gone is taken over.
 * Ctrl-C stops the downloads in flight cleanly, as does the first layer that fails.
 *
 * `--extract` then unpacks the saved layers in order into DIR/rootfs through SafeExtractor
 * (whiteouts applied, nothing written outside the root).
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, readdir, rename } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { defineCommand } from 'citty'
import { mapConcurrent } from '../core/concurrency.ts'
import type { Layer, Target } from '../core/contracts.ts'
import { algorithmOf } from '../core/digest.ts'
import { LayerleakError } from '../core/errors.ts'
import type { ScanEvent } from '../core/events.ts'
import { formatPlatform } from '../core/platform.ts'
import { detectCompression, MAGIC_LENGTH } from '../plugins/sources/decompress.ts'
import { openFileStream, readFileRange } from '../plugins/sources/file-stream.ts'
import { readLayerEntries } from '../plugins/sources/layer-reader.ts'
import { type ExtractTotals, SafeExtractor } from '../plugins/sources/safe-extract.ts'
import { ExitCode } from './exit-codes.ts'
import { explorerArgs, openEnvironment, outputFormat, parseLayerSelection, targetOfArgs } from './explorer-target.ts'
import { layerProgress, runCommand, streamWriter, type Writer } from './explorer-io.ts'
import { downloadBlob } from './blob-download.ts'
import { humanSize } from './format.ts'
import { acquirePullLock } from './pull-lock.ts'

const EXTENSIONS = { gzip: '.tar.gz', zstd: '.tar.zst', none: '.tar' } as const

export interface PulledLayer {
  index: number
  digest: string
  media_type: string
  size: number
  file: string
  /** `downloaded`, or `present` when a verified copy was already there */
  status: 'downloaded' | 'present'
}

export interface PullReport {
  reference: string
  platform: string
  manifest_digest: string
  directory: string
  layers: PulledLayer[]
  extract?: ExtractTotals & { root: string }
}

const hexOf = (digest: string) => digest.slice(digest.indexOf(':') + 1)

/** The digest of a file on disk, streamed. */
const fileDigest = async (path: string, algorithm: 'sha256' | 'sha512'): Promise<string> => {
  const hash = createHash(algorithm)
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return `${algorithm}:${hash.digest('hex')}`
}

/** A verified copy of the blob already in `dir`, under any of the names pull gives it. */
const existingBlob = async (dir: string, digest: string): Promise<string | undefined> => {
  for (const extension of Object.values(EXTENSIONS)) {
    const file = join(dir, `${hexOf(digest)}${extension}`)
    try {
      if ((await fileDigest(file, algorithmOf(digest))) === digest) return file
    } catch {}
  }
  return undefined
}

export interface PullLayerOptions {
  signal?: AbortSignal
  /** progress, and diagnostics (`partial_discarded`, `resume_refused`) worth a warning */
  onEvent?: (event: ScanEvent) => void
}

/** Where a download of `digest` into `dir` keeps its bytes between runs. */
export const partialPath = (dir: string, digest: string): string => join(dir, `.${hexOf(digest)}.partial`)

const pullOnce = async (layer: Layer, dir: string, options: PullLayerOptions): Promise<PulledLayer> => {
  const emit = options.onEvent ?? (() => {})
  const summary = { index: layer.index, digest: layer.digest, media_type: layer.mediaType, size: layer.size }
  const present = (file: string): PulledLayer => {
    emit({ type: 'layer-done', digest: layer.digest, files: 0, bytes: 0, matches: 0, cached: true })
    return { ...summary, file, status: 'present' }
  }
  const saved = await existingBlob(dir, layer.digest)
  if (saved) return present(saved)
  emit({ type: 'layer-start', digest: layer.digest, index: layer.index, size: layer.size })
  const partial = partialPath(dir, layer.digest)
  const release = await acquirePullLock(`${partial}.lock`, `${layer.digest} into ${dir}`)
  let file: string
  try {
    // another pull may have finished it between the look and the lock
    const finished = await existingBlob(dir, layer.digest)
    if (finished) return present(finished)
    await downloadBlob(layer, partial, options)
    const head = await readFileRange(partial, 0, Math.min(MAGIC_LENGTH, layer.size))
    file = join(dir, `${hexOf(layer.digest)}${EXTENSIONS[detectCompression(head)]}`)
    await rename(partial, file)
  } finally {
    await release()
  }
  emit({ type: 'layer-done', digest: layer.digest, files: 0, bytes: layer.size, matches: 0, cached: false })
  return { ...summary, file, status: 'downloaded' }
}

/** pulls of one digest into one directory in this process, chained (an image may list a blob twice) */
const pullsInFlight = new Map<string, Promise<unknown>>()

/**
 * Saves one layer blob into `dir` (atomically; skipped when a verified copy is there), resuming
 * the partial download an earlier run left (see the file comment).
 */
export const pullLayer = async (layer: Layer, dir: string, options: PullLayerOptions = {}): Promise<PulledLayer> => {
  const key = `${resolve(dir)}\0${layer.digest}`
  const earlier = pullsInFlight.get(key)
  const pull = (async () => {
    await earlier?.catch(() => {})
    return pullOnce(layer, dir, options)
  })()
  pullsInFlight.set(key, pull)
  try {
    return await pull
  } finally {
    if (pullsInFlight.get(key) === pull) pullsInFlight.delete(key)
  }
}

/** Unpacks saved blobs, in layer order, into `root`. The blobs were verified when saved. */
export const extractLayers = async (pulled: PulledLayer[], root: string): Promise<ExtractTotals> => {
  const extractor = new SafeExtractor(root)
  for (const layer of [...pulled].sort((a, b) => a.index - b.index)) {
    const stream = await openFileStream(layer.file, { what: `layer ${layer.index} ${layer.digest}` })
    await extractor.applyLayer(layer.index, readLayerEntries(stream, { what: `layer ${layer.index} ${layer.digest}` }))
  }
  return extractor.totals
}

/** `alpine_1a2b3c4d5e6f`: a directory name for a target, when -o is not given */
export const defaultPullDirectory = (target: Target): string => {
  const name = target.repository.split('/').pop()?.replace(/[^A-Za-z0-9._-]+/g, '_') || 'image'
  return `${name}_${hexOf(target.manifest.digest).slice(0, 12)}`
}

const isEmptyOrMissing = async (dir: string): Promise<boolean> => {
  try {
    return (await readdir(dir)).length === 0
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return true
    throw error
  }
}

export const renderPullText = (report: PullReport): string => {
  const lines = report.layers.map(
    (layer) => `layer ${layer.index}  ${layer.digest}  ${humanSize(layer.size).padStart(9)}  ${layer.status === 'present' ? 'already there (verified)' : 'downloaded (verified)'}  ${layer.file}`,
  )
  if (report.extract) {
    const { root, written, removed, refused } = report.extract
    lines.push('', `rootfs: ${root}  (${written} entries written, ${removed} removed by later layers, ${refused.length} refused)`)
    for (const refusal of refused) lines.push(`  refused  layer ${refusal.layer}  ${refusal.path}: ${refusal.reason}`)
  }
  return `${lines.join('\n')}\n`
}

export const pullArgs = {
  ...explorerArgs,
  layer: { type: 'string' as const, alias: 'l', description: 'layer index, comma-separated indexes, or "all" (default: all)' },
  output: { type: 'string' as const, alias: 'o', description: 'directory to save into (default: <name>_<manifest digest>)' },
  extract: { type: 'boolean' as const, description: 'also unpack the layers into DIR/rootfs (safely: nothing outside it, no devices, no setuid)' },
}

export const runPull = async (args: Record<string, unknown>, write: Writer): Promise<number> => {
  const format = outputFormat(args.format)
  const environment = await openEnvironment(args, { jsonOutput: format === 'json' })
  try {
    const target = await targetOfArgs(args, environment)
    const layers = await target.layers()
    const selection = parseLayerSelection(args.layer, layers.length) ?? layers.map((layer) => layer.index)
    const chosen = selection.map((index) => layers.find((layer) => layer.index === index)).filter((layer): layer is Layer => layer !== undefined)
    const dir = resolve(typeof args.output === 'string' && args.output ? args.output : defaultPullDirectory(target))
    const root = join(dir, 'rootfs')
    if (args.extract === true && !(await isEmptyOrMissing(root))) {
      throw new LayerleakError('INVALID_ARGUMENT', `${root} is not empty: layers unpacked over an old tree would not be the image; remove it or choose another -o`)
    }
    await mkdir(dir, { recursive: true })
    const progress = layerProgress(target.reference, chosen)
    // Ctrl-C, or one layer failing, stops every download in flight: each keeps its partial file
    const stop = new AbortController()
    const interrupt = () => stop.abort(new LayerleakError('ABORTED', 'pull interrupted'))
    process.once('SIGINT', interrupt)
    process.once('SIGTERM', interrupt)
    const onEvent = (event: ScanEvent) => {
      if (event.type === 'diagnostic') environment.logger.warn(event.diagnostic.message)
      else progress.onEvent(event)
    }
    let pulled: PulledLayer[]
    let failure: { error: unknown } | undefined
    try {
      // every pull settles (keeps its partial, drops its lock) before the first failure is told
      const outcomes = await mapConcurrent(chosen, 3, async (layer) => {
        if (failure || stop.signal.aborted) return undefined
        try {
          return await pullLayer(layer, dir, { signal: stop.signal, onEvent })
        } catch (error) {
          failure ??= { error }
          stop.abort(error)
          return undefined
        }
      })
      if (failure) throw failure.error
      if (stop.signal.aborted) throw stop.signal.reason
      pulled = outcomes.filter((layer): layer is PulledLayer => layer !== undefined)
    } finally {
      process.off('SIGINT', interrupt)
      process.off('SIGTERM', interrupt)
      progress.done()
    }
    const report: PullReport = { reference: target.reference, platform: formatPlatform(target.platform), manifest_digest: target.manifest.digest, directory: dir, layers: pulled }
    if (args.extract === true) {
      environment.logger.info(`unpacking ${pulled.length} layer${pulled.length === 1 ? '' : 's'} into ${root}`)
      report.extract = { root, ...(await extractLayers(pulled, root)) }
      for (const refusal of report.extract.refused) environment.logger.warn(`refused ${refusal.path} (layer ${refusal.layer}): ${refusal.reason}`)
    }
    await write(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderPullText(report))
    return ExitCode.clean
  } finally {
    await environment.close()
  }
}

export const pullCommand = defineCommand({
  meta: { name: 'pull', description: 'save layer blobs (digest-verified, atomically) and optionally unpack them safely into DIR/rootfs' },
  args: pullArgs,
  async run({ args }) {
    await runCommand(() => runPull(args, streamWriter(process.stdout)))
  },
})
