/**
 * Images from what `docker save` writes, read in place: the tar is indexed once (headers only) and
 * each member is served as a byte range of the file, so a 5 GB archive costs no extraction.
 *
 * Both layouts: legacy (Docker <= 24: `manifest.json` -> `<id>.json` config, `<id>/layer.tar`
 * uncompressed layers) and Docker 25+ (an OCI layout inside the tar: `index.json`, `blobs/…`, with
 * `manifest.json` pointing at blobs). Legacy archives have no manifest and no compressed digests:
 * a synthetic Docker manifest is built, each layer's digest is the sha256 of its member bytes
 * (for an uncompressed tar that is the config's diff_id, so the stream check proves diff_id).
 *
 * References: `docker-archive:<file.tar>`, `docker-archive:<file.tar>:<repo:tag>`,
 * `docker-archive:<file.tar>:@<n>` (the n-th image of manifest.json, from 0).
 */
import { createHash } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { resolve as resolvePath } from 'node:path'
import { z } from 'zod'
import { defineSource, type LayerDescriptor, type ResolveOptions, type Target } from '../../core/contracts.ts'
import { algorithmOf, isDigest, sha256Digest, verifyDigest } from '../../core/digest.ts'
import { LayerleakError } from '../../core/errors.ts'
import { exceeds } from '../../core/limits.ts'
import { MediaTypes } from '../../core/media-types.ts'
import { formatPlatform, parsePlatform, platformMatches } from '../../core/platform.ts'
import { detectCompression, MAGIC_LENGTH, unsupportedCompression } from './decompress.ts'
import { openFileStream, readFileRange } from './file-stream.ts'
import { type Descriptor, type ParsedManifest, parseImageConfig, parseManifest } from './image-manifest.ts'
import { type BlobStore, storeTarget, type TargetBase } from './oci-layout.ts'
import { indexTarFile, type TarIndex, type TarMember } from './tar-index.ts'

const manifestJsonSchema = z.array(
  z.object({
    Config: z.string(),
    RepoTags: z.array(z.string()).nullish(),
    Layers: z.array(z.string()),
  }),
)
type ArchiveImage = z.infer<typeof manifestJsonSchema>[number]

/** `blobs/sha256/<hex>` -> `sha256:<hex>`; legacy `<hex>.json` configs are named by their digest too */
const digestFromPath = (path: string): string | undefined => {
  const blob = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/.exec(path)
  if (blob && isDigest(`${blob[1]}:${blob[2]}`)) return `${blob[1]}:${blob[2]}`
  const legacyConfig = /^([a-f0-9]{64})\.json$/.exec(path)
  return legacyConfig ? `sha256:${legacyConfig[1]}` : undefined
}

/** `alpine` -> `alpine:latest`, `docker.io/library/alpine:3` -> `alpine:3`: how RepoTags and users spell names differ */
export const normaliseRepoTag = (name: string): string => {
  let normal = name.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '').replace(/^library\/(?=[^/]+$)/, '')
  const at = normal.indexOf('@')
  if (at >= 0) normal = normal.slice(0, at)
  const lastSlash = normal.lastIndexOf('/')
  if (normal.lastIndexOf(':') <= lastSlash) normal = `${normal}:latest`
  return normal
}

const isFile = (path: string): Promise<boolean> => stat(path).then((info) => info.isFile(), () => false)

/**
 * Splits `<file>[:<selector>]`. The file may itself contain `:`, so the split is the first one
 * that names an existing file; when none does, the message names what was probably meant.
 */
const locateArchive = async (reference: string, cwd: string): Promise<{ file: string; selector?: string }> => {
  const rest = reference.slice('docker-archive:'.length)
  if (!rest) throw new LayerleakError('INVALID_REFERENCE', `"${reference}" names no file: use docker-archive:<file.tar>[:repo:tag]`)
  if (await isFile(resolvePath(cwd, rest))) return { file: resolvePath(cwd, rest) }
  for (let colon = rest.indexOf(':'); colon > 0; colon = rest.indexOf(':', colon + 1)) {
    const file = resolvePath(cwd, rest.slice(0, colon))
    if (await isFile(file)) {
      const selector = rest.slice(colon + 1)
      if (!selector) throw new LayerleakError('INVALID_REFERENCE', `empty image name after the file in "${reference}"`)
      return { file, selector }
    }
  }
  const guess = resolvePath(cwd, rest.includes(':') ? rest.slice(0, rest.indexOf(':')) : rest)
  throw new LayerleakError('NOT_FOUND', `no such file: ${guess}`, { details: { path: guess } })
}

const refuseCompressedArchive = async (file: string): Promise<void> => {
  const head = await readFileRange(file, 0, MAGIC_LENGTH)
  const compression = detectCompression(head) === 'none' ? unsupportedCompression(head) : detectCompression(head)
  if (!compression) return
  const tool = { gzip: 'gunzip', zstd: 'unzstd', xz: 'unxz', bzip2: 'bunzip2' }[compression] ?? 'decompress it'
  throw new LayerleakError(
    'INVALID_ARCHIVE',
    `${file} is ${compression}-compressed (docker save | ${compression === 'gzip' ? 'gzip' : compression}); docker-archive reads the plain tar docker save writes: ${tool} it first (e.g. ${tool} -k ${file}) or save with docker save -o`,
  )
}

const readMember = async (archive: TarIndex, member: TarMember, maxBytes: number, what: string): Promise<Uint8Array> => {
  if (exceeds(member.size, maxBytes)) {
    throw new LayerleakError('LIMIT_EXCEEDED', `${what} (${archive.file}!${member.path}) is ${member.size} bytes, over the ${maxBytes}-byte limit`)
  }
  return readFileRange(archive.file, member.offset, member.size)
}

const missingMember = (archive: TarIndex, path: string, what: string) =>
  new LayerleakError('NOT_FOUND', `${what} is missing: ${archive.file} has no member ${path}`, { details: { path: `${archive.file}!${path}` } })

/** The archive's blobs by digest: `blobs/<alg>/<hex>` members, plus legacy members named by the digest computed for them. */
const archiveBlobStore = (archive: TarIndex, byDigest: Map<string, TarMember>): BlobStore => {
  const blobPathOf = (digest: string) => `blobs/${algorithmOf(digest)}/${digest.slice(digest.indexOf(':') + 1)}`
  const memberOf = (digest: string): TarMember | undefined => byDigest.get(digest) ?? (isDigest(digest) ? archive.find(blobPathOf(digest)) : undefined)
  return {
    locate: (digest) => `${archive.file}!${byDigest.get(digest)?.path ?? blobPathOf(digest)}`,
    sizeOf: async (digest) => memberOf(digest)?.size,
    async read(digest, maxBytes, what) {
      const member = memberOf(digest)
      if (!member) throw missingMember(archive, blobPathOf(digest), `${what} ${digest}`)
      const bytes = await readMember(archive, member, maxBytes, `${what} ${digest}`)
      verifyDigest(bytes, digest, `${what} ${archive.file}!${member.path}`)
      return bytes
    },
    async open(digest, options) {
      const member = memberOf(digest)
      if (!member) throw missingMember(archive, blobPathOf(digest), `${options.what} ${digest}`)
      const offset = Math.min(options.offset ?? 0, member.size)
      return openFileStream(archive.file, {
        start: member.offset + offset,
        length: member.size - offset,
        what: `${options.what} (${archive.file}!${member.path})`,
        ...(options.signal ? { signal: options.signal } : {}),
      })
    },
  }
}

const hashMember = async (archive: TarIndex, member: TarMember): Promise<string> => {
  const hash = createHash('sha256')
  const reader = (await openFileStream(archive.file, { start: member.offset, length: member.size })).getReader()
  for (let read = await reader.read(); !read.done; read = await reader.read()) hash.update(read.value)
  return `sha256:${hash.digest('hex')}`
}

const layerMediaType = (head: Uint8Array): string => {
  const compression = detectCompression(head)
  if (compression === 'gzip') return MediaTypes.dockerLayer
  if (compression === 'zstd') return MediaTypes.ociLayerZstd
  return MediaTypes.ociLayer
}

/**
 * Docker 25+ archives carry the real manifest: the one index.json leads to whose config is this
 * image's. Blobs the archive does not hold (other platforms of an index) are passed over.
 */
const findRealManifest = async (
  store: BlobStore,
  descriptors: Descriptor[],
  configDigest: string,
  options: ResolveOptions,
  depth = 0,
): Promise<{ top: Descriptor; descriptor: Descriptor; parsed: Extract<ParsedManifest, { kind: 'manifest' }> } | undefined> => {
  for (const descriptor of descriptors) {
    if ((await store.sizeOf(descriptor.digest)) === undefined) continue
    const parsed = parseManifest(await store.read(descriptor.digest, options.limits.maxManifestBytes, 'manifest'), descriptor.mediaType, `manifest ${descriptor.digest}`)
    if (parsed.kind === 'manifest' && parsed.config.digest === configDigest) return { top: descriptor, descriptor, parsed }
    if (parsed.kind === 'index' && depth < 4) {
      const found = await findRealManifest(store, parsed.manifests, configDigest, options, depth + 1)
      if (found) return { ...found, top: descriptor }
    }
  }
  return undefined
}

const describeImage = (image: ArchiveImage, index: number): string => image.RepoTags?.join(', ') || `@${index} (untagged, config ${image.Config})`

const chooseImage = (images: ArchiveImage[], selector: string | undefined, file: string): number => {
  if (!selector) return 0
  if (/^@\d+$/.test(selector)) {
    const index = Number(selector.slice(1))
    if (index < images.length) return index
    throw new LayerleakError('NOT_FOUND', `${file} holds ${images.length} image(s); there is no @${index}`)
  }
  const wanted = normaliseRepoTag(selector)
  const index = images.findIndex((image) => (image.RepoTags ?? []).some((tag) => normaliseRepoTag(tag) === wanted))
  if (index >= 0) return index
  throw new LayerleakError('NOT_FOUND', `${file} has no image tagged ${selector} (it has: ${images.map(describeImage).join('; ')})`, { details: { tag: selector } })
}

export interface DockerArchiveSourceOptions {
  /** what relative paths resolve against (default: the working directory) */
  cwd?: string
}

export const dockerArchiveSource = (sourceOptions: DockerArchiveSourceOptions = {}) =>
  defineSource({
    name: 'docker-archive',

    accepts: (reference: string): boolean => reference.startsWith('docker-archive:'),

    async *resolve(reference: string, options: ResolveOptions): AsyncIterable<Target> {
      const { file, selector } = await locateArchive(reference, sourceOptions.cwd ?? process.cwd())
      await refuseCompressedArchive(file)
      const archive = await indexTarFile(file)

      const manifestMember = archive.find('manifest.json')
      if (!manifestMember) {
        const ociHint = archive.find('index.json') ? ': it looks like an OCI layout in a tar; extract it (tar -xf) and use oci:<dir>' : ''
        throw new LayerleakError('INVALID_ARCHIVE', `${file} is not a docker save archive: it has no manifest.json${ociHint}`)
      }
      let json: unknown
      try {
        json = JSON.parse(new TextDecoder().decode(await readMember(archive, manifestMember, options.limits.maxManifestBytes, 'manifest.json')))
      } catch (error) {
        if (error instanceof LayerleakError) throw error
        throw new LayerleakError('INVALID_MANIFEST', `${file}!manifest.json is not valid JSON`, { cause: error })
      }
      const checked = manifestJsonSchema.safeParse(json)
      if (!checked.success) {
        const issue = checked.error.issues[0]
        throw new LayerleakError('INVALID_MANIFEST', `${file}!manifest.json is not what docker save writes: ${issue.path.join('.') || '(root)'}: ${issue.message}`)
      }
      const images: ArchiveImage[] = checked.data
      if (images.length === 0) throw new LayerleakError('NOT_FOUND', `${file} holds no images (manifest.json is empty)`)
      const chosen = chooseImage(images, selector, file)
      const image = images[chosen]
      if (images.length > 1) {
        const others = images.flatMap((other, index) => (index === chosen ? [] : [describeImage(other, index)]))
        options.report({
          code: 'archive_images_not_scanned',
          scope: 'target',
          subject: file,
          message: `${file} holds ${images.length} images; scanned ${describeImage(image, chosen)}; not scanned: ${others.join('; ')} (pick one with docker-archive:${file}:<repo:tag>)`,
        })
      }

      // the config: verified against the digest its name carries, else named by its own hash
      const configMember = archive.find(image.Config)
      if (!configMember) throw missingMember(archive, image.Config, 'the image config')
      const configBytes = await readMember(archive, configMember, options.limits.maxConfigBytes, 'the image config')
      const namedConfig = digestFromPath(configMember.path) ?? digestFromPath(image.Config)
      if (namedConfig) verifyDigest(configBytes, namedConfig, `config ${file}!${configMember.path}`)
      const configDigest = namedConfig ?? sha256Digest(configBytes)
      const config = parseImageConfig(configBytes, configDigest)
      if (options.platform && !platformMatches(parsePlatform(options.platform), config.platform)) {
        throw new LayerleakError('PLATFORM_NOT_FOUND', `${file} holds a ${formatPlatform(config.platform) || 'unknown-platform'} image, not ${options.platform}`)
      }

      const byDigest = new Map<string, TarMember>([[configDigest, configMember]])
      const store = archiveBlobStore(archive, byDigest)
      const base: Omit<TargetBase, 'resolvedDigest' | 'resolvedMediaType'> = {
        reference: `docker-archive:${file}${selector ? `:${selector}` : ''}`,
        repository: file,
        registry: 'docker-archive',
        tags: image.RepoTags ?? [],
      }
      const loadConfig = async () => config

      const indexMember = archive.find('index.json')
      if (indexMember) {
        const index = parseManifest(await readMember(archive, indexMember, options.limits.maxManifestBytes, 'index.json'), MediaTypes.ociIndex, `${file}!index.json`)
        const real = index.kind === 'index' ? await findRealManifest(store, index.manifests, configDigest, options) : undefined
        const complete = real && (await Promise.all(real.parsed.layers.map((layer) => store.sizeOf(layer.digest)))).every((size) => size !== undefined)
        if (real && complete) {
          const manifest = { mediaType: real.parsed.mediaType, digest: real.descriptor.digest, size: real.descriptor.size, raw: real.parsed.raw }
          const resolved = { resolvedDigest: real.top.digest, resolvedMediaType: real.top.mediaType || real.parsed.mediaType }
          yield await storeTarget(store, { ...base, ...resolved }, manifest, real.parsed, config.platform, options, loadConfig)
          return
        }
      }

      // legacy (or an OCI-style archive without a usable manifest): describe the layers from manifest.json
      const layers: LayerDescriptor[] = []
      for (const [i, path] of image.Layers.entries()) {
        const member = archive.find(path)
        if (!member) throw missingMember(archive, path, `layer ${i}`)
        const head = await readFileRange(file, member.offset, Math.min(MAGIC_LENGTH, member.size))
        const mediaType = layerMediaType(head)
        // Docker 25+ names layer blobs by digest (a legacy `<id>/layer.tar` may be a symlink to one)
        const named = member.path.startsWith('blobs/') ? digestFromPath(member.path) : undefined
        const diffId = config.diffIds[i]
        const digest = named ?? (mediaType === MediaTypes.ociLayer && diffId && isDigest(diffId) ? diffId : await hashMember(archive, member))
        byDigest.set(digest, member)
        layers.push({ digest, mediaType, size: member.size })
      }
      const raw = {
        schemaVersion: 2,
        mediaType: MediaTypes.dockerManifest,
        config: { mediaType: MediaTypes.dockerConfig, digest: configDigest, size: configBytes.byteLength },
        layers,
      }
      const bytes = new TextEncoder().encode(JSON.stringify(raw))
      const digest = sha256Digest(bytes)
      const parsed = parseManifest(bytes, MediaTypes.dockerManifest, `the manifest built for ${file}`)
      if (parsed.kind !== 'manifest') throw new LayerleakError('INTERNAL', 'a built manifest parsed as an index')
      const manifest = { mediaType: MediaTypes.dockerManifest, digest, size: bytes.byteLength, raw: parsed.raw }
      yield await storeTarget(store, { ...base, resolvedDigest: digest, resolvedMediaType: MediaTypes.dockerManifest }, manifest, parsed, config.platform, options, loadConfig)
    },
  })
