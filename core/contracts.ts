/**
 * The plugin contracts. Sources bring images, detectors find secrets in text, filters decide what is
 * actionable, sinks write results. The pipeline (core/scan.ts) owns everything between them.
 */
import type { ScanEvent } from './events.ts'
import type { Limits } from './limits.ts'
import type { Confidence, Diagnostic, DispositionKind, ScanResult, SourceType } from './result.ts'
import type { RawMatch } from './text-scanner.ts'

export interface Platform {
  os: string
  architecture: string
  variant?: string
  'os.version'?: string
}

export interface HistoryEntry {
  created?: string
  created_by?: string
  comment?: string
  author?: string
  /** true for metadata-only steps (ENV, LABEL...) that produced no layer */
  empty_layer: boolean
}

/** The parts of an image config the scanner and explorer read. `raw` keeps the whole document. */
export interface ImageConfig {
  digest: string
  raw: Record<string, unknown>
  platform?: Platform
  env: string[]
  labels: Record<string, string>
  cmd: string[]
  entrypoint: string[]
  user: string
  workingDir: string
  exposedPorts: string[]
  volumes: string[]
  stopSignal: string
  history: HistoryEntry[]
  diffIds: string[]
}

export interface LayerDescriptor {
  digest: string
  mediaType: string
  /** compressed size as the manifest states it */
  size: number
  urls?: string[]
  annotations?: Record<string, string>
}

export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char-device' | 'block-device' | 'fifo' | 'other'

/** One tar entry of an uncompressed layer, exactly as the archive holds it (whiteouts included). */
export interface LayerEntry {
  /** normalised: no leading `./` or `/`, no trailing `/` */
  path: string
  type: EntryType
  size: number
  mode: number
  uid: number
  gid: number
  mtime?: Date
  /** symlink or hardlink target, as written in the archive */
  linkname?: string
  /**
   * The file's bytes. Read it, or don't: the producer drains an unread body before it yields the
   * next entry, so a consumer never stalls the archive by skipping a file.
   */
  body: AsyncIterable<Uint8Array>
}

export interface OpenOptions {
  signal?: AbortSignal
  /** called with the number of compressed bytes read so far */
  onProgress?: (bytes: number) => void
}

/**
 * How a layer's blob is opened. Without `offset`: from byte 0, verified by the source. With it: a
 * resumed download (`layerleak pull` keeps a partial file across runs), and the CALLER verifies.
 */
export interface BlobOptions extends OpenOptions {
  /**
   * Start at this byte of the blob (an HTTP `Range: bytes=N-`, a positioned read). The source then
   * does not verify the digest, whatever the offset (0 included): it cannot see the bytes before it,
   * so the caller, who holds them, hashes the whole blob and checks it against `digest`. The size
   * the manifest states is still enforced. A source that cannot start there (a registry that
   * ignores the range or answers another one) starts at 0 instead, and says so through `onStart`:
   * it never skips bytes to fake the offset.
   */
  offset?: number
  /**
   * With `offset`: called before `blob()` resolves with the byte the stream starts at, `offset` or
   * 0. A source that does not call it is taken to start at 0 (the caller drops its prefix).
   */
  onStart?: (start: number) => void
}

export interface Layer extends LayerDescriptor {
  /** 0-based position in the manifest */
  index: number
  /**
   * The blob's bytes as stored (compressed), verified while they stream: the stream fails with
   * DIGEST_MISMATCH at its end when the bytes do not hash to `digest`. With `offset`, see
   * BlobOptions: unverified, and `onProgress` counts from the byte the stream starts at (a
   * resumed download's bar does not jump back).
   */
  blob(options?: BlobOptions): Promise<ReadableStream<Uint8Array>>
  /** The layer's tar entries: decompressed by magic bytes, digest-verified, in archive order. */
  entries(options?: OpenOptions): AsyncIterable<LayerEntry>
}

export interface ManifestInfo {
  mediaType: string
  digest: string
  size: number
  /** the parsed manifest document */
  raw: Record<string, unknown>
}

/** One platform image. */
export interface Target {
  /** what the user asked for, normalised (`registry/repo:tag`, `oci:/dir:tag`...) */
  reference: string
  /** `registry/repository` (or the local source's name) */
  repository: string
  registry: string
  /** the digest the reference resolved to: an index digest for multi-platform images */
  resolvedDigest: string
  resolvedMediaType: string
  tags: string[]
  manifest: ManifestInfo
  platform?: Platform
  config(): Promise<ImageConfig>
  layers(): Promise<Layer[]>
}

export interface ResolveOptions {
  /** `os/arch[/variant]`: only that platform of an index */
  platform?: string
  /**
   * Sweep: the reference is a bare repository and every tag of it is scanned, each digest once
   * (its Target lists every tag naming it). Only sources that can list tags (the registry) sweep.
   */
  allTags?: boolean
  signal?: AbortSignal
  limits: Limits
  /** non-fatal facts found while resolving: attestation manifests skipped, foreign layers... */
  report: (diagnostic: Diagnostic) => void
}

export interface Source {
  name: string
  /** true when the reference is for this source (`oci:`, `docker-archive:`, a registry reference) */
  accepts(reference: string): boolean
  resolve(reference: string, options: ResolveOptions): AsyncIterable<Target>
  close?(): Promise<void>
}

/** What a detector is handed: a run of text and where it came from. */
export interface ScanChunk {
  text: string
  sourceType: SourceType
  /** file path, or empty for config sources */
  path: string
  /** env var name, label key, config field */
  key: string
  /** true when the bytes did not look like text: only `binary: true` detectors see these */
  binary: boolean
  /**
   * For a detector with `startsAtKeyword`: where its keywords start in `text`, ascending (may
   * repeat). Absent when the prefilter did not record them (too many): then search the whole text.
   */
  keywordStarts?: readonly number[]
}

export interface DetectorMatch {
  /** the secret itself */
  value: string
  /** offsets of the secret in chunk.text */
  start: number
  end: number
  /** overrides the detector's default confidence (a failed checksum lowers it, say) */
  confidence?: Confidence
  /** the key the value sat under, when the format has one (`password`, `aws_secret_access_key`) */
  key?: string
}

/** The text a detector runs on: the whole file, or windows around its keyword hits. */
export type DetectorContext = 'file' | { before: number; after: number }

export interface Detector {
  /** stable, kebab-case: `aws-access-key-id`. Reported as `detector_name`. */
  id: string
  name: string
  description: string
  confidence: Confidence
  /**
   * Lower-case literals; the detector runs only on text that contains one of them (case-insensitive).
   * Empty means it runs on everything: avoid, it costs every byte.
   */
  keywords: string[]
  /** run on binary content too (safe only for long, prefixed, high-confidence formats) */
  binary?: boolean
  /**
   * Every match starts where one of its keywords starts (`password = …`, `token: …`): the
   * detector then gets the whole text with `keywordStarts`, and tries its pattern at those offsets
   * only, instead of a regex pass over keyword windows. For rules whose keywords are common words.
   */
  startsAtKeyword?: boolean
  /**
   * How much text around each keyword hit the detector needs. By default it runs on line-aligned
   * windows from 1 KB before to 8 KB after its keyword hits (merged), not on the whole file: a
   * 1 MB bundle with one `ghp_` in it costs a few KB of regex. `'file'` hands it the whole text
   * (structured files, formats whose keyword can sit anywhere). A function decides by the file's
   * path: a .netrc parser needs a `.netrc` whole, but elsewhere only the lines around its keywords
   * (a script writing one, a lone `machine … password …` line).
   */
  context?: DetectorContext | ((path: string) => DetectorContext)
  /**
   * A parser of one file format (a kubeconfig, a .netrc, ~/.aws/credentials): it knows what each
   * value is by where it sits, so it keeps overlapping spans from the pattern detectors.
   */
  fileFormat?: boolean
  /** pure and synchronous: text in, matches out */
  detect(chunk: ScanChunk): Iterable<DetectorMatch>
}

/** What a filter sees about one match. */
export interface MatchContext {
  detectorId: string
  confidence: Confidence
  value: string
  sourceType: SourceType
  path: string
  key: string
  /** the full line the match sits on (raw) */
  line: string
}

export interface Disposition {
  disposition: DispositionKind
  reason: string
}

export interface Filter {
  name: string
  /** first filter to return a disposition decides; undefined means no opinion */
  classify(match: MatchContext): Disposition | undefined
  /**
   * A string that changes whenever this filter's verdicts could change: its name and a hash of its
   * options (and of its rules, for built-ins). Verdicts are remembered with a layer's matches, so a
   * layer read once is not downloaded again (see LayerCache); without a cacheKey in every filter
   * of a scan, layers with matches are always read again. Never put a secret in it as it is: hash.
   */
  cacheKey?: string
}

export interface SinkReceipt {
  /** e.g. `findings/alpine_latest_....json`, `scan_run 42` */
  location?: string
  scanRunId?: string | number
}

export interface Sink {
  name: string
  /** connect before the scan, so a wrong URL or an old schema fails before minutes of work */
  open?(): Promise<unknown>
  /** progress of the scan (which layers were read to their end, say) */
  onEvent?(event: ScanEvent): void
  write(result: ScanResult): Promise<SinkReceipt | void>
  close?(): Promise<void>
}

/** What the filters said of a match in a file, for either place the file can stand in an image. */
export interface RememberedVerdicts {
  /** the file is in the final image */
  file_final: Disposition
  /** a later layer of the image deleted or replaced the file */
  file_deleted_layer: Disposition
}

/**
 * One match of a remembered layer, without its value: where it is, its fingerprint, its redacted
 * value and redacted context snippet, and what the filters said of it. Whether the file is in the
 * final image depends on the manifest that reuses the layer, so both verdicts are kept.
 */
export interface RememberedMatch {
  detectorId: string
  confidence: Confidence
  key: string
  /** the file's path, or `outer.jar!inner/path` inside an archive */
  path: string
  /** the layer entry that holds it: whiteouts and presence are judged on this path */
  entryPath: string
  /** 1-based */
  lineNumber: number
  start: number
  end: number
  /** as results report it (an HMAC when a fingerprint key is set) */
  fingerprint: string
  redactedValue: string
  /** the line around the match, the value redacted */
  contextSnippet: string
  verdicts: RememberedVerdicts
}

/**
 * What a scan remembers of a layer it read to its end without a hitch: enough to skip downloading
 * it next time. Its changeset always (it may delete lower layers' files), and its matches when it
 * had any, never with their raw values.
 */
export interface LayerRecord {
  digest: string
  files: number
  bytes: number
  /** [path, isDirectory] of every entry that is not a whiteout */
  entries: [string, boolean][]
  whiteouts: string[]
  opaqueDirectories: string[]
  /** absent or empty: the layer is clean */
  matches?: RememberedMatch[]
}

/**
 * Layers already scanned, per detector catalog version (a changed catalog reads every layer
 * again). A clean layer is remembered under the catalog version alone; a layer with matches also
 * under a filter signature (the filters' cache keys, the fingerprint key's hash): its verdicts and
 * fingerprints hold only for those, so another signature reads it again.
 */
export interface LayerCache {
  /** The remembered layers among `digests`: clean ones, and with a `filterSignature`, those with matches stored under it. */
  get(digests: string[], catalogVersion: string, filterSignature?: string): Promise<Map<string, LayerRecord>>
  /** Stores the records; a record with matches needs a `filterSignature` (it is refused without one). */
  put(records: LayerRecord[], catalogVersion: string, filterSignature?: string): Promise<void>
}

/**
 * Scans whole files away from the thread that reads the layers (worker threads), so tar parsing
 * and the detectors run at once. plugins/workers/file-scan-pool.ts implements it.
 */
export interface FileScanPool {
  /**
   * Scans one whole file with the scan's detectors, in windows of `windowSize` when it is larger
   * (TextScanner.scanInWindows). `bytes` are copied before this returns.
   */
  scan(bytes: Uint8Array, path: string, windowSize: number): Promise<RawMatch[]>
  /** Resolves once the bytes handed over and not yet scanned are few enough to hand over more. */
  capacity(): Promise<void>
}

export const defineSource = <T extends Source>(source: T): T => source
export const defineFilter = <T extends Filter>(filter: T): T => filter
export const defineSink = <T extends Sink>(sink: T): T => sink
