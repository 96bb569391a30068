/**
 * The I/O the explorer commands share: writing to stdout with backpressure (a 300 MB listing piped
 * into `less` must not pile up in memory), reading layers' entry metadata with a progress line, and
 * the wrapper that turns an error into one line on stderr and an exit code.
 */
import { mapConcurrent } from '../core/concurrency.ts'
import type { Layer } from '../core/contracts.ts'
import type { ScanEvent } from '../core/events.ts'
import type { EntryMeta } from '../core/merged-filesystem.ts'
import { describeError, ExitCode } from './exit-codes.ts'
import { createProgress, type ProgressDisplay } from './progress.ts'

/** Where a command's output goes: text or raw bytes; resolves when the destination can take more. */
export type Writer = (chunk: string | Uint8Array) => Promise<void>

export const streamWriter = (stream: NodeJS.WritableStream): Writer => {
  let failed: Error | undefined
  stream.on('error', (error: Error) => {
    failed = error
  })
  return (chunk) =>
    new Promise((resolve, reject) => {
      if (failed) return reject(failed)
      if (stream.write(chunk)) return resolve()
      const done = () => {
        stream.off('drain', done)
        stream.off('close', done)
        stream.off('error', done)
        failed ? reject(failed) : resolve()
      }
      stream.on('drain', done)
      stream.on('close', done)
      stream.on('error', done)
    })
}

/** Collects everything written, for tests and for rendering into a string. */
export const memoryWriter = (): { write: Writer; text(): string; bytes(): Uint8Array } => {
  const chunks: Buffer[] = []
  return {
    write: async (chunk) => {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk))
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
    bytes: () => new Uint8Array(Buffer.concat(chunks)),
  }
}

/** A command's body: returns the exit code; errors become `layerleak: message` and exit 1. */
export const runCommand = async (body: () => Promise<number>): Promise<void> => {
  try {
    process.exitCode = await body()
  } catch (error) {
    // the reader went away (`| head`): stopping is the right thing, not an error to report
    if ((error as { code?: string })?.code === 'EPIPE') return
    const { message } = describeError(error)
    process.stderr.write(`layerleak: ${message}\n`)
    process.exitCode = ExitCode.error
  }
}

export interface MetadataOptions {
  signal?: AbortSignal
  /** layers read at once */
  concurrency?: number
  onEvent?: (event: ScanEvent) => void
}

/** One layer's entries without their bytes (bodies are skipped, the stream still runs to the end). */
export const readLayerMetadata = async (layer: Layer, options: MetadataOptions = {}): Promise<EntryMeta[]> => {
  const emit = options.onEvent ?? (() => {})
  emit({ type: 'layer-start', digest: layer.digest, index: layer.index, size: layer.size })
  const entries: EntryMeta[] = []
  let bytes = 0
  for await (const entry of layer.entries({
    ...(options.signal ? { signal: options.signal } : {}),
    onProgress: (read) => emit({ type: 'layer-progress', digest: layer.digest, bytes: read, size: layer.size }),
  })) {
    const { body: _body, mtime: _mtime, ...meta } = entry
    entries.push(meta)
    if (entry.type !== 'directory') bytes += entry.size
  }
  emit({ type: 'layer-done', digest: layer.digest, files: entries.length, bytes, matches: 0, cached: false })
  return entries
}

/** Every layer's entry metadata, in layer order, several layers in flight. */
export const readLayersMetadata = (layers: Layer[], options: MetadataOptions = {}): Promise<EntryMeta[][]> =>
  mapConcurrent(layers, options.concurrency ?? 3, (layer) => readLayerMetadata(layer, options))

/** A progress line on stderr while layers stream (nothing when stderr is not a terminal). */
export const layerProgress = (reference: string, layers: Layer[], enabled?: boolean): ProgressDisplay => {
  const progress = createProgress(process.stderr, enabled ?? process.stderr.isTTY === true)
  progress.onEvent({ type: 'target', reference, platform: '', manifestDigest: '', layers: layers.length })
  return progress
}
