/**
 * Images from an OCI image layout directory (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), as
 * written by `skopeo copy … oci:dir`, `docker buildx build --output type=oci`, `crane`, or an
 * extracted `docker save` (Docker 25+). Every blob read is verified against its digest.
 *
 * References: `oci:<dir>`, `oci:<dir>:<tag>`, `oci:<dir>@sha256:<hex>`. The tag is whatever
 * follows the last `:` when that part has no `/` (or `\`), so a directory whose last component
 * contains `:` is written with a trailing slash: `oci:./build:v2/`.
 */
import { readFile, stat } from 'node:fs/promises'
import { join, resolve as resolvePath } from 'node:path'
import { defineSource, type ImageConfig, type Layer, type LayerDescriptor, type ManifestInfo, type OpenOptions, type Platform, type ResolveOptions, type Target } from '../../core/contracts.ts'
import { algorithmOf, isDigest, sha256Digest, verifyDigest } from '../../core/digest.ts'
import { isLayerleakError, LayerleakError, toLayerleakError } from '../../core/errors.ts'
import { exceeds } from '../../core/limits.ts'
import { isForeignLayerMediaType, isIndexMediaType, MediaTypes } from '../../core/media-types.ts'
import { formatPlatform, parsePlatform, platformMatches } from '../../core/platform.ts'
import { openFileStream } from './file-stream.ts'
import { type Descriptor, type ParsedManifest, parseImageConfig, parseManifest, selectPlatforms } from './image-manifest.ts'
import { makeLayer } from './layer-reader.ts'

export interface OciReference {
  /** absolute */
  dir: string
  tag?: string
  digest?: string
}

const DIGEST_LIKE = /@(sha256|sha512):[^@/]*$/

/** Splits `oci:<dir>[:<tag>][@<digest>]`; relative directories resolve against `cwd`. */
export const parseOciReference = (reference: string, cwd = process.cwd()): OciReference => {
  if (!reference.startsWith('oci:')) throw new LayerleakError('INVALID_REFERENCE', `"${reference}" is not an oci: reference`)
  let rest = reference.slice('oci:'.length)
  let digest: string | undefined
  const digestMatch = DIGEST_LIKE.exec(rest)
  if (digestMatch) {
    digest = rest.slice(digestMatch.index + 1)
    if (!isDigest(digest)) throw new LayerleakError('INVALID_REFERENCE', `invalid digest "${digest}" in "${reference}": expected sha256:<64 hex> or sha512:<128 hex>`)
    rest = rest.slice(0, digestMatch.index)
  }
  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  const after = rest.slice(colon + 1)
  // `C:\dir` and `C:/dir` are Windows drives, not a tag
  if (colon >= 0 && !after.includes('/') && !after.includes('\\')) {
    tag = after
    rest = rest.slice(0, colon)
    if (!tag) throw new LayerleakError('INVALID_REFERENCE', `empty tag in "${reference}": use oci:<dir>:<tag> or leave the tag out`)
  }
  if (!rest) throw new LayerleakError('INVALID_REFERENCE', `"${reference}" names no directory: use oci:<dir>[:tag]`)
  return { dir: resolvePath(cwd, rest), ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) }
}

export const formatOciReference = (reference: OciReference): string =>
  `oci:${reference.dir}${reference.tag ? `:${reference.tag}` : ''}${reference.digest ? `@${reference.digest}` : ''}`

/** Blob access for an image layout, wherever it lives: a directory here, a `docker save` tar in docker-archive.ts. */
export interface BlobStore {
  /** where a blob is or would be, for messages: a file path, `archive.tar!blobs/sha256/…` */
  locate(digest: string): string
  /** size in bytes, or undefined when the blob is not there */
  sizeOf(digest: string): Promise<number | undefined>
  /** the whole blob, verified; NOT_FOUND when missing, LIMIT_EXCEEDED above `maxBytes` (0: no cap) */
  read(digest: string, maxBytes: number, what: string): Promise<Uint8Array>
  /**
   * The raw bytes as a stream (makeLayer verifies them), from byte `offset` (default 0) with a
   * positioned read: a resumed pull asks for the rest of a blob it kept part of.
   */
  open(digest: string, options: OpenOptions & { what: string; offset?: number }): Promise<ReadableStream<Uint8Array>>
}

const blobPath = (dir: string, digest: string): string => {
  if (!isDigest(digest)) throw new LayerleakError('INVALID_MANIFEST', `invalid digest "${digest}"`)
  return join(dir, 'blobs', algorithmOf(digest), digest.slice(digest.indexOf(':') + 1))
}

const missingBlob = (what: string, digest: string, where: string) =>
  new LayerleakError('NOT_FOUND', `${what} ${digest} is missing: no blob at ${where}`, { details: { digest, path: where } })

export const directoryBlobStore = (dir: string): BlobStore => {
  const sizeOf = async (digest: string): Promise<number | undefined> => {
    try {
      const info = await stat(blobPath(dir, digest))
      return info.isFile() ? info.size : undefined
    } catch {
      return undefined
    }
  }
  return {
    locate: (digest) => blobPath(dir, digest),
    sizeOf,
    async read(digest, maxBytes, what) {
      const path = blobPath(dir, digest)
      const size = await sizeOf(digest)
      if (size === undefined) throw missingBlob(what, digest, path)
      if (exceeds(size, maxBytes)) {
        throw new LayerleakError('LIMIT_EXCEEDED', `${what} ${digest} is ${size} bytes, over the ${maxBytes}-byte limit`, { details: { digest, size, limit: maxBytes } })
      }
      const bytes = new Uint8Array(await readFile(path))
      verifyDigest(bytes, digest, `${what} ${path}`)
      return bytes
    },
    async open(digest, options) {
      const path = blobPath(dir, digest)
      try {
        return await openFileStream(path, { what: `${options.what} ${digest}`, start: options.offset ?? 0, ...(options.signal ? { signal: options.signal } : {}) })
      } catch (error) {
        if (isLayerleakError(error, 'NOT_FOUND')) throw missingBlob(options.what, digest, path)
        throw error
      }
    },
  }
}

/** The Target fields that come from how the image was named, not from its manifest. */
export interface TargetBase {
  reference: string
  repository: string
  registry: string
  resolvedDigest: string
  resolvedMediaType: string
  tags: string[]
}

type ImageManifest = Extract<ParsedManifest, { kind: 'manifest' }>

const anySignal = (...signals: (AbortSignal | undefined)[]): AbortSignal | undefined => {
  const present = signals.filter((signal): signal is AbortSignal => !!signal)
  return present.length > 1 ? AbortSignal.any(present) : present[0]
}

const optionalSignal = (signal: AbortSignal | undefined) => (signal ? { signal } : {})

/**
 * One platform image from a store. Layers the layout cannot serve are reported and left out, as
 * the registry source does: non-tar layers (artifacts), and foreign layers whose blob is absent.
 */
export const storeTarget = async (
  store: BlobStore,
  base: TargetBase,
  manifest: ManifestInfo,
  parsed: ImageManifest,
  platform: Platform | undefined,
  options: ResolveOptions,
  loadConfig: () => Promise<ImageConfig> = configLoader(store, parsed.config.digest, options),
): Promise<Target> => {
  const where = `${base.reference}${platform ? ` (${formatPlatform(platform)})` : ''}`
  const kept: { descriptor: LayerDescriptor; index: number }[] = []
  for (const [index, descriptor] of parsed.layers.entries()) {
    const report = (code: string, why: string) =>
      options.report({ code, scope: 'layer', subject: descriptor.digest, message: `layer ${index} of ${where} has media type ${descriptor.mediaType}${why}: not scanned` })
    if (descriptor.mediaType && !descriptor.mediaType.includes('tar')) report('non_tar_layer_skipped', '')
    else if (isForeignLayerMediaType(descriptor.mediaType) && (await store.sizeOf(descriptor.digest)) === undefined) {
      report('foreign_layer_skipped', ` and is not in the layout${descriptor.urls?.length ? ` (served from ${descriptor.urls[0]})` : ''}`)
    } else kept.push({ descriptor, index })
  }
  return {
    ...base,
    manifest,
    ...(platform ? { platform } : {}),
    config: loadConfig,
    layers: async (): Promise<Layer[]> =>
      kept.map(({ descriptor, index }) =>
        makeLayer(descriptor, index, async (open) => {
          // a positioned read always lands where asked: the stream starts at the offset
          const offset = open?.offset ?? 0
          const stream = await store.open(descriptor.digest, { what: `layer ${index}`, offset, ...optionalSignal(anySignal(options.signal, open?.signal)) })
          open?.onStart?.(offset)
          return stream
        }),
      ),
  }
}


export const configLoader = (store: BlobStore, digest: string, options: ResolveOptions): (() => Promise<ImageConfig>) => {
  let config: Promise<ImageConfig> | undefined
  return () => (config ??= store.read(digest, options.limits.maxConfigBytes, 'config').then((bytes) => parseImageConfig(bytes, digest)))
}

const MAX_INDEX_DEPTH = 4

/** Index entries with nested indexes expanded in place; a nested index the layout lacks is reported and passed over. */
const flattenIndex = async (store: BlobStore, entries: Descriptor[], options: ResolveOptions, subject: string, depth = 0): Promise<Descriptor[]> => {
  const flat: Descriptor[] = []
  for (const entry of entries) {
    if (!isIndexMediaType(entry.mediaType)) {
      flat.push(entry)
      continue
    }
    if (depth >= MAX_INDEX_DEPTH) throw new LayerleakError('INVALID_MANIFEST', `indexes nest deeper than ${MAX_INDEX_DEPTH} levels at ${entry.digest}`)
    if ((await store.sizeOf(entry.digest)) === undefined) {
      options.report({ code: 'index_not_in_layout', scope: 'target', subject: entry.digest, message: `${subject}: the nested index ${entry.digest} is not in the layout (${store.locate(entry.digest)}): not scanned` })
      continue
    }
    const nested = parseManifest(await store.read(entry.digest, options.limits.maxManifestBytes, 'index'), entry.mediaType, `index ${entry.digest}`)
    if (nested.kind === 'index') flat.push(...(await flattenIndex(store, nested.manifests, options, subject, depth + 1)))
    else flat.push(entry)
  }
  return flat
}

/**
 * The targets a descriptor stands for: itself when it is an image manifest, its platforms when it
 * is an index (attestations reported and skipped, platforms whose blobs the layout does not hold
 * reported and skipped: `docker save` keeps only the platform it has).
 */
export async function* targetsOf(store: BlobStore, top: Descriptor, base: TargetBase, options: ResolveOptions, preloaded?: ParsedManifest): AsyncIterable<Target> {
  const parsed = preloaded ?? parseManifest(await store.read(top.digest, options.limits.maxManifestBytes, 'manifest'), top.mediaType, `manifest ${top.digest}`)
  const resolved = { ...base, resolvedMediaType: base.resolvedMediaType || parsed.mediaType }
  if (parsed.kind === 'manifest') {
    const loadConfig = configLoader(store, parsed.config.digest, options)
    const platform = top.platform ?? (await loadConfig()).platform
    if (options.platform && !platformMatches(parsePlatform(options.platform), platform)) {
      throw new LayerleakError('PLATFORM_NOT_FOUND', `${base.reference} is a single ${formatPlatform(platform) || 'unknown-platform'} image, not ${options.platform}`)
    }
    const manifest = { mediaType: parsed.mediaType, digest: top.digest, size: top.size, raw: parsed.raw }
    yield await storeTarget(store, resolved, manifest, parsed, platform, options, loadConfig)
    return
  }
  const leaves = await flattenIndex(store, parsed.manifests, options, base.reference)
  const present: Descriptor[] = []
  const chosen = selectPlatforms(leaves, options.platform, options.report, base.reference)
  for (const entry of chosen) {
    if ((await store.sizeOf(entry.digest)) !== undefined) present.push(entry)
    else {
      options.report({
        code: 'platform_not_in_layout',
        scope: 'target',
        subject: entry.digest,
        message: `${base.reference}: the ${formatPlatform(entry.platform)} manifest ${entry.digest} is not in the layout (${store.locate(entry.digest)}): not scanned`,
      })
    }
  }
  if (present.length === 0 && chosen.length > 0) throw missingBlob('manifest', chosen[0].digest, store.locate(chosen[0].digest))
  for (const entry of present) {
    const child = parseManifest(await store.read(entry.digest, options.limits.maxManifestBytes, 'manifest'), entry.mediaType, `manifest ${entry.digest}`)
    if (child.kind !== 'manifest') continue // flattenIndex expanded every index it could see
    const manifest = { mediaType: child.mediaType, digest: entry.digest, size: entry.size, raw: child.raw }
    yield await storeTarget(store, resolved, manifest, child, entry.platform, options)
  }
}

const REF_NAME = 'org.opencontainers.image.ref.name'
const CONTAINERD_NAME = 'io.containerd.image.name'

/** The names an index.json entry answers to: its ref.name (a tag, or a whole reference) and containerd's image name. */
const namesOf = (entry: Descriptor): string[] => [entry.annotations?.[REF_NAME], entry.annotations?.[CONTAINERD_NAME]].filter((name): name is string => !!name)

const answersTo = (entry: Descriptor, tag: string): boolean => namesOf(entry).some((name) => name === tag || name.endsWith(`:${tag}`))

const describeEntries = (entries: Descriptor[]): string =>
  entries
    .map((entry) => entry.annotations?.[REF_NAME] ?? entry.digest)
    .slice(0, 10)
    .join(', ')

const readLayoutFiles = async (dir: string, maxBytes: number): Promise<Uint8Array> => {
  let layout: string
  try {
    layout = await readFile(join(dir, 'oci-layout'), 'utf8')
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const exists = await stat(dir).then((info) => info.isDirectory(), () => false)
      throw new LayerleakError('NOT_FOUND', exists ? `${dir} is not an OCI image layout: it has no oci-layout file` : `no such directory: ${dir}`, { cause: error, details: { path: dir } })
    }
    throw toLayerleakError(error)
  }
  let version: unknown
  try {
    version = (JSON.parse(layout) as { imageLayoutVersion?: unknown }).imageLayoutVersion
  } catch (cause) {
    throw new LayerleakError('INVALID_MANIFEST', `${join(dir, 'oci-layout')} is not valid JSON`, { cause })
  }
  if (typeof version !== 'string' || !/^1\.\d+\.\d+$/.test(version)) {
    throw new LayerleakError('UNSUPPORTED_SCHEMA', `${dir} has imageLayoutVersion ${JSON.stringify(version)}; layerleak reads version 1.x layouts`)
  }
  const indexPath = join(dir, 'index.json')
  const size = await stat(indexPath).then(
    (info) => info.size,
    (error) => {
      throw new LayerleakError('NOT_FOUND', `${dir} is not a complete OCI image layout: it has no index.json`, { cause: error, details: { path: indexPath } })
    },
  )
  if (exceeds(size, maxBytes)) throw new LayerleakError('LIMIT_EXCEEDED', `${indexPath} is ${size} bytes, over the ${maxBytes}-byte manifest limit`)
  return new Uint8Array(await readFile(indexPath))
}

export interface OciLayoutSourceOptions {
  /** what relative directories resolve against (default: the working directory) */
  cwd?: string
}

export const ociLayoutSource = (sourceOptions: OciLayoutSourceOptions = {}) =>
  defineSource({
    name: 'oci-layout',

    accepts: (reference: string): boolean => reference.startsWith('oci:'),

    async *resolve(reference: string, options: ResolveOptions): AsyncIterable<Target> {
      const ref = parseOciReference(reference, sourceOptions.cwd)
      const indexBytes = await readLayoutFiles(ref.dir, options.limits.maxManifestBytes)
      const index = parseManifest(indexBytes, MediaTypes.ociIndex, `${join(ref.dir, 'index.json')}`)
      if (index.kind !== 'index') throw new LayerleakError('INVALID_MANIFEST', `${join(ref.dir, 'index.json')} is not an image index`)
      const store = directoryBlobStore(ref.dir)
      const base = (top: Descriptor): TargetBase => ({
        reference: formatOciReference(ref),
        repository: ref.dir,
        registry: 'oci',
        resolvedDigest: top.digest,
        resolvedMediaType: top.mediaType,
        tags: [...new Set(index.manifests.filter((entry) => entry.digest === top.digest).flatMap((entry) => (entry.annotations?.[REF_NAME] ? [entry.annotations[REF_NAME]] : [])))],
      })

      if (ref.digest) {
        const listed = index.manifests.find((entry) => entry.digest === ref.digest)
        if (listed) return yield* targetsOf(store, listed, base(listed), options)
        // any manifest blob of the layout may be named by digest, e.g. one platform of an index
        const size = await store.sizeOf(ref.digest)
        if (size === undefined) throw missingBlob('manifest', ref.digest, store.locate(ref.digest))
        const top: Descriptor = { mediaType: '', digest: ref.digest, size }
        return yield* targetsOf(store, top, base(top), options)
      }
      if (ref.tag) {
        const tag = ref.tag
        const tagged = index.manifests.find((entry) => answersTo(entry, tag))
        if (!tagged) {
          throw new LayerleakError('NOT_FOUND', `${ref.dir} has no image tagged "${tag}" (it has: ${describeEntries(index.manifests) || 'nothing'})`, { details: { tag } })
        }
        return yield* targetsOf(store, tagged, { ...base(tagged), tags: [tag] }, options)
      }
      const distinct = [...new Map(index.manifests.map((entry) => [entry.digest, entry])).values()]
      if (distinct.length === 0) throw new LayerleakError('NOT_FOUND', `${join(ref.dir, 'index.json')} lists no images`)
      if (distinct.length === 1) return yield* targetsOf(store, distinct[0], base(distinct[0]), options)
      if (distinct.every((entry) => entry.platform)) {
        // index.json itself is the multi-platform index (how some tools write a single image)
        const top: Descriptor = { mediaType: MediaTypes.ociIndex, digest: sha256Digest(indexBytes), size: indexBytes.byteLength }
        return yield* targetsOf(store, top, { ...base(top), tags: [] }, options, index)
      }
      throw new LayerleakError(
        'INVALID_REFERENCE',
        `${ref.dir} holds ${distinct.length} images: pick one with oci:${ref.dir}:<tag> or oci:${ref.dir}@<digest> (it has: ${describeEntries(distinct)})`,
      )
    },
  })
