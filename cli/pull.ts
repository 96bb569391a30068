/**
 * `layerleak pull <ref> [--layer N|all] [-o DIR] [--extract]`: saves layer blobs as
 * `DIR/<digest-hex>.tar.gz|.tar.zst|.tar` (the extension from the bytes, not the media type, which
 * tools get wrong). Each blob is digest-verified as it streams, written to a temp name and renamed
 * into place only when complete and verified, so DIR never holds a partial or wrong blob under its
 * real name; a file already there that verifies is not downloaded again. `--extract` then unpacks
 * the saved layers in order into DIR/rootfs through SafeExtractor (whiteouts applied, nothing written
 * outside the root). HTTP Range resumption is not done: an interrupted download starts over.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { type FileHandle, mkdir, open, readdir, rename, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { defineCommand } from 'citty'
import { mapConcurrent } from '../core/concurrency.ts'
import type { Layer, Target } from '../core/contracts.ts'
import { algorithmOf } from '../core/digest.ts'
import { LayerleakError } from '../core/errors.ts'
import type { ScanEvent } from '../core/events.ts'
import { formatPlatform } from '../core/platform.ts'
import { detectCompression } from '../plugins/sources/decompress.ts'
import { openFileStream } from '../plugins/sources/file-stream.ts'
import { readLayerEntries } from '../plugins/sources/layer-reader.ts'
import { type ExtractTotals, SafeExtractor } from '../plugins/sources/safe-extract.ts'
import { ExitCode } from './exit-codes.ts'
import { explorerArgs, openEnvironment, outputFormat, parseLayerSelection, targetOfArgs } from './explorer-target.ts'
import { layerProgress, runCommand, streamWriter, type Writer } from './explorer-io.ts'
import { humanSize } from './format.ts'

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

/** a write may take fewer bytes than given: loop until the chunk is all on disk */
export const writeAll = async (handle: FileHandle, chunk: Uint8Array): Promise<void> => {
  let offset = 0
  while (offset < chunk.byteLength) offset += (await handle.write(chunk, offset, chunk.byteLength - offset)).bytesWritten
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
  onEvent?: (event: ScanEvent) => void
}

/** Saves one layer blob into `dir` (atomically; skipped when a verified copy is there). */
export const pullLayer = async (layer: Layer, dir: string, options: PullLayerOptions = {}): Promise<PulledLayer> => {
  const emit = options.onEvent ?? (() => {})
  const summary = { index: layer.index, digest: layer.digest, media_type: layer.mediaType, size: layer.size }
  const present = await existingBlob(dir, layer.digest)
  if (present) {
    emit({ type: 'layer-done', digest: layer.digest, files: 0, bytes: 0, matches: 0, cached: true })
    return { ...summary, file: present, status: 'present' }
  }
  emit({ type: 'layer-start', digest: layer.digest, index: layer.index, size: layer.size })
  const temp = join(dir, `.${hexOf(layer.digest)}.${process.pid}.${randomBytes(4).toString('hex')}.partial`)
  const handle = await open(temp, 'wx', 0o644)
  let head: Uint8Array | undefined
  try {
    const stream = await layer.blob({
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (bytes) => emit({ type: 'layer-progress', digest: layer.digest, bytes, size: layer.size }),
    })
    // the blob stream fails at its end (DIGEST_MISMATCH) when the bytes are wrong: then nothing is renamed
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
      head ??= chunk
      await writeAll(handle, chunk)
    }
    await handle.sync()
    await handle.close()
  } catch (error) {
    await handle.close().catch(() => {})
    await rm(temp, { force: true })
    throw error
  }
  const file = join(dir, `${hexOf(layer.digest)}${EXTENSIONS[detectCompression(head ?? new Uint8Array())]}`)
  await rename(temp, file)
  emit({ type: 'layer-done', digest: layer.digest, files: 0, bytes: layer.size, matches: 0, cached: false })
  return { ...summary, file, status: 'downloaded' }
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
    let pulled: PulledLayer[]
    try {
      pulled = await mapConcurrent(chosen, 3, (layer) => pullLayer(layer, dir, { onEvent: (event) => progress.onEvent(event) }))
    } finally {
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
