/**
 * Builds an image in memory from a plain description: layers of files (whiteouts, links and long
 * names included), a config with env, labels and history, and an OCI or Docker manifest; several
 * images make an index, optionally with attestation manifests beside them. `layerleak demo` builds
 * its demo image with it, and the tests build every fixture image with it, so a reader sees what
 * is inside an image where it is used.
 */
import { gzipSync } from 'node:zlib'
import { pack } from 'tar-stream'
import type { Platform } from '../../core/contracts.ts'
import { sha256Digest } from '../../core/digest.ts'
import { MediaTypes } from '../../core/media-types.ts'

export interface FileSpec {
  path: string
  /** file content (default empty) */
  content?: string | Uint8Array
  type?: 'file' | 'directory' | 'symlink' | 'hardlink' | 'char-device' | 'block-device' | 'fifo'
  linkname?: string
  mode?: number
}

export interface LayerSpec {
  files: FileSpec[]
  /** the Dockerfile step that made it, recorded in the config history */
  createdBy?: string
  /** metadata-only steps (ENV, LABEL...) recorded in history just before this layer's step */
  stepsBefore?: string[]
  compression?: 'gzip' | 'none' | 'zstd'
  /** compressor for `zstd` (Node 20 has none built in; tests pass one) */
  compress?: (tar: Uint8Array) => Uint8Array
  /** override the media type written in the manifest */
  mediaType?: string
}

export interface ImageSpec {
  layers: LayerSpec[]
  format?: 'oci' | 'docker'
  platform?: Platform
  env?: string[]
  labels?: Record<string, string>
  cmd?: string[]
  entrypoint?: string[]
  user?: string
  workingDir?: string
  /** metadata-only steps recorded after the last layer */
  stepsAfter?: string[]
  created?: string
}

export interface BuiltBlob {
  digest: string
  mediaType: string
  size: number
  bytes: Uint8Array
}

export interface BuiltLayer extends BuiltBlob {
  diffId: string
  tar: Uint8Array
}

export interface BuiltImage {
  manifest: BuiltBlob
  config: BuiltBlob
  layers: BuiltLayer[]
  platform: Platform
}

export interface BuiltIndex {
  index: BuiltBlob
  images: BuiltImage[]
  /** attestation manifests and their blobs: pushed like any other, never scanned as platforms */
  attestations: { manifest: BuiltBlob; blobs: BuiltBlob[] }[]
}

const encoder = new TextEncoder()
const toBytes = (content: string | Uint8Array | undefined): Uint8Array =>
  typeof content === 'string' ? encoder.encode(content) : (content ?? new Uint8Array())

export const blobOf = (bytes: Uint8Array, mediaType: string): BuiltBlob => ({
  digest: sha256Digest(bytes),
  mediaType,
  size: bytes.byteLength,
  bytes,
})

const jsonBlob = (value: unknown, mediaType: string): BuiltBlob => blobOf(encoder.encode(JSON.stringify(value)), mediaType)

/** A whiteout entry: hides `path` of lower layers. */
export const whiteout = (path: string): FileSpec => {
  const slash = path.lastIndexOf('/')
  return { path: `${path.slice(0, slash + 1)}.wh.${path.slice(slash + 1)}` }
}

/** An opaque-directory marker: hides everything lower layers had under `dir`. */
export const opaqueDirectory = (dir: string): FileSpec => ({ path: `${dir.replace(/\/$/, '')}/.wh..wh..opq` })

/** An uncompressed tar of the files, as tar-stream writes it (PAX headers for long names). */
export const buildTar = async (files: FileSpec[]): Promise<Uint8Array> => {
  const archive = pack()
  const chunks: Uint8Array[] = []
  const done = new Promise<void>((resolve, reject) => {
    archive.on('data', (chunk: unknown) => chunks.push(chunk as Uint8Array))
    archive.on('end', () => resolve())
    archive.on('error', reject)
  })
  const mtime = new Date('2024-01-01T00:00:00Z')
  for (const file of files) {
    const type = file.type ?? 'file'
    if (type === 'file') {
      const body = toBytes(file.content)
      await new Promise<void>((resolve, reject) =>
        archive.entry({ name: file.path, size: body.byteLength, mode: file.mode ?? 0o644, mtime }, Buffer.from(body), (error) =>
          error ? reject(error) : resolve(),
        ),
      )
    } else {
      archive.entry({ name: file.path, type: type === 'hardlink' ? 'link' : type === 'char-device' ? 'character-device' : type, linkname: file.linkname, mode: file.mode ?? (type === 'directory' ? 0o755 : 0o777), mtime })
    }
  }
  archive.finalize()
  await done
  return new Uint8Array(Buffer.concat(chunks))
}

const layerMediaType = (format: 'oci' | 'docker', compression: 'gzip' | 'none' | 'zstd'): string => {
  if (format === 'docker') return MediaTypes.dockerLayer
  if (compression === 'gzip') return MediaTypes.ociLayerGzip
  if (compression === 'zstd') return MediaTypes.ociLayerZstd
  return MediaTypes.ociLayer
}

export const buildLayer = async (spec: LayerSpec, format: 'oci' | 'docker' = 'oci'): Promise<BuiltLayer> => {
  const tar = await buildTar(spec.files)
  const compression = spec.compression ?? 'gzip'
  let bytes = tar
  if (compression === 'gzip') bytes = new Uint8Array(gzipSync(tar))
  if (compression === 'zstd') {
    if (!spec.compress) throw new Error('zstd layers need a `compress` function')
    bytes = spec.compress(tar)
  }
  return { ...blobOf(bytes, spec.mediaType ?? layerMediaType(format, compression)), diffId: sha256Digest(tar), tar }
}

export const buildImage = async (spec: ImageSpec): Promise<BuiltImage> => {
  const format = spec.format ?? 'oci'
  const platform = spec.platform ?? { os: 'linux', architecture: 'amd64' }
  const layers = await Promise.all(spec.layers.map((layer) => buildLayer(layer, format)))
  const created = spec.created ?? '2024-01-01T00:00:00Z'
  const history: Record<string, unknown>[] = []
  spec.layers.forEach((layer, i) => {
    for (const step of layer.stepsBefore ?? []) history.push({ created, created_by: step, empty_layer: true })
    history.push({ created, created_by: layer.createdBy ?? `COPY layer-${i} / # buildkit` })
  })
  for (const step of spec.stepsAfter ?? []) history.push({ created, created_by: step, empty_layer: true })
  const config = jsonBlob(
    {
      created,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: {
        Env: spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        ...(spec.labels ? { Labels: spec.labels } : {}),
        ...(spec.cmd ? { Cmd: spec.cmd } : {}),
        ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
        ...(spec.user ? { User: spec.user } : {}),
        ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
      },
      rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
      history,
    },
    format === 'oci' ? MediaTypes.ociConfig : MediaTypes.dockerConfig,
  )
  const manifestType = format === 'oci' ? MediaTypes.ociManifest : MediaTypes.dockerManifest
  const manifest = jsonBlob(
    {
      schemaVersion: 2,
      mediaType: manifestType,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: layers.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size })),
    },
    manifestType,
  )
  return { manifest, config, layers, platform }
}

/** An index (OCI) or manifest list (Docker) over the images, with an attestation manifest per image when asked. */
export const buildIndex = (images: BuiltImage[], options: { format?: 'oci' | 'docker'; attestations?: boolean } = {}): BuiltIndex => {
  const format = options.format ?? 'oci'
  const attestations: BuiltIndex['attestations'] = []
  const entries: Record<string, unknown>[] = images.map((image) => ({
    mediaType: image.manifest.mediaType,
    digest: image.manifest.digest,
    size: image.manifest.size,
    platform: image.platform,
  }))
  if (options.attestations) {
    for (const image of images) {
      const statement = jsonBlob({ _type: 'https://in-toto.io/Statement/v0.1', subject: [{ digest: image.manifest.digest }] }, MediaTypes.inToto)
      const emptyConfig = jsonBlob({}, MediaTypes.ociConfig)
      const manifest = jsonBlob(
        {
          schemaVersion: 2,
          mediaType: MediaTypes.ociManifest,
          config: { mediaType: emptyConfig.mediaType, digest: emptyConfig.digest, size: emptyConfig.size },
          layers: [{ mediaType: statement.mediaType, digest: statement.digest, size: statement.size, annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2' } }],
        },
        MediaTypes.ociManifest,
      )
      attestations.push({ manifest, blobs: [emptyConfig, statement] })
      entries.push({
        mediaType: manifest.mediaType,
        digest: manifest.digest,
        size: manifest.size,
        platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { 'vnd.docker.reference.digest': image.manifest.digest, 'vnd.docker.reference.type': 'attestation-manifest' },
      })
    }
  }
  const mediaType = format === 'oci' ? MediaTypes.ociIndex : MediaTypes.dockerManifestList
  const index = jsonBlob({ schemaVersion: 2, mediaType, manifests: entries }, mediaType)
  return { index, images, attestations }
}

/** Every blob of an image or index, deduplicated, manifests last (the order a registry push needs). */
export const blobsOf = (built: BuiltImage | BuiltIndex): { blobs: BuiltBlob[]; manifests: BuiltBlob[] } => {
  const images = 'index' in built ? built.images : [built]
  const blobs = new Map<string, BuiltBlob>()
  const manifests: BuiltBlob[] = []
  for (const image of images) {
    for (const blob of [image.config, ...image.layers]) blobs.set(blob.digest, blob)
    manifests.push(image.manifest)
  }
  if ('index' in built) {
    for (const attestation of built.attestations) {
      for (const blob of attestation.blobs) blobs.set(blob.digest, blob)
      manifests.push(attestation.manifest)
    }
    manifests.push(built.index)
  }
  return { blobs: [...blobs.values()], manifests }
}
