/**
 * Writes built images as `docker save` would, so tests can make both archive layouts without a
 * Docker daemon:
 * - legacy (Docker <= 24, moby's image/tarexport): `<layer id>/{VERSION,json,layer.tar}` with
 *   uncompressed layers, `<config hex>.json`, `manifest.json`, `repositories`; a layer whose
 *   content was already saved becomes a symlink to the first copy, as moby writes it;
 * - oci (Docker 25+): an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) with
 *   `manifest.json` beside it pointing at the blobs.
 */
import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { pack } from 'tar-stream'
import { MediaTypes } from '../../core/media-types.ts'
import type { BuiltImage, BuiltIndex } from '../../plugins/sources/image-builder.ts'

export interface ArchivedImage {
  image: BuiltImage
  /** `repo:tag` names, as `docker save name:tag` records them */
  repoTags?: string[]
  /**
   * oci layout only: the multi-platform index the image was pulled as. index.json then points at
   * the index, whose other platforms' blobs are not in the archive (Docker 25+ with containerd).
   */
  index?: BuiltIndex
}

export interface DockerArchiveOptions {
  /** `legacy` (default): Docker <= 24; `oci`: Docker 25+ */
  layout?: 'legacy' | 'oci'
  /** gzip the whole archive, as `docker save … | gzip` does (which docker-archive must refuse clearly) */
  gzip?: boolean
  /** legacy only: store each layer as its compressed blob `<hex>.tar.gz`, as go-containerregistry's tarball writer does */
  compressedLayers?: boolean
}

const hex = (digest: string) => digest.slice(digest.indexOf(':') + 1)
const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex')
const json = (value: unknown) => Buffer.from(JSON.stringify(value))

/** `alpine:3` -> `docker.io/library/alpine:3`, as containerd names images in index.json */
const fullName = (repoTag: string): string => {
  const first = repoTag.split('/')[0]
  if (!repoTag.includes('/')) return `docker.io/library/${repoTag}`
  if (!first.includes('.') && !first.includes(':') && first !== 'localhost') return `docker.io/${repoTag}`
  return repoTag
}

const splitRepoTag = (repoTag: string): [string, string] => {
  const colon = repoTag.lastIndexOf(':')
  return colon > repoTag.lastIndexOf('/') ? [repoTag.slice(0, colon), repoTag.slice(colon + 1)] : [repoTag, 'latest']
}

type Member = { name: string; body: Uint8Array } | { name: string; linkname: string } | { name: string; directory: true }

const legacyMembers = (images: ArchivedImage[], options: DockerArchiveOptions): { members: Member[]; manifest: unknown[] } => {
  const members: Member[] = []
  const manifest: unknown[] = []
  const written = new Set<string>()
  const savedByDiffId = new Map<string, string>()
  const repositories: Record<string, Record<string, string>> = {}
  for (const { image, repoTags = [] } of images) {
    const layerPaths: string[] = []
    let parent = ''
    for (const layer of image.layers) {
      if (options.compressedLayers) {
        const name = `${hex(layer.digest)}.tar.gz`
        if (!written.has(name)) members.push({ name, body: layer.bytes })
        written.add(name)
        layerPaths.push(name)
        continue
      }
      // moby's v1 ids chain the parent in, so the same content under another parent gets a new id
      const id = sha256Hex(`${parent}\n${layer.diffId}`)
      const path = `${id}/layer.tar`
      if (!written.has(id)) {
        written.add(id)
        members.push({ name: `${id}`, directory: true })
        members.push({ name: `${id}/VERSION`, body: Buffer.from('1.0') })
        members.push({ name: `${id}/json`, body: json({ id, ...(parent ? { parent } : {}), created: '2024-01-01T00:00:00Z', container_config: {} }) })
        const earlier = savedByDiffId.get(layer.diffId)
        if (earlier) members.push({ name: path, linkname: `../${earlier}` })
        else {
          members.push({ name: path, body: layer.tar })
          savedByDiffId.set(layer.diffId, path)
        }
      }
      layerPaths.push(path)
      parent = id
    }
    const configName = `${hex(image.config.digest)}.json`
    if (!written.has(configName)) members.push({ name: configName, body: image.config.bytes })
    written.add(configName)
    manifest.push({ Config: configName, RepoTags: repoTags.length ? repoTags : null, Layers: layerPaths })
    for (const repoTag of repoTags) {
      const [repository, tag] = splitRepoTag(repoTag)
      repositories[repository] = { ...repositories[repository], [tag]: parent }
    }
  }
  if (Object.keys(repositories).length) members.push({ name: 'repositories', body: json(repositories) })
  return { members, manifest }
}

const ociMembers = (images: ArchivedImage[]): { members: Member[]; manifest: unknown[] } => {
  const members: Member[] = [
    { name: 'blobs', directory: true },
    { name: 'blobs/sha256', directory: true },
  ]
  const manifest: unknown[] = []
  const written = new Set<string>()
  const indexEntries: unknown[] = []
  for (const { image, repoTags = [], index } of images) {
    for (const blob of [...image.layers, image.config, image.manifest, ...(index ? [index.index] : [])]) {
      if (written.has(blob.digest)) continue
      written.add(blob.digest)
      members.push({ name: `blobs/sha256/${hex(blob.digest)}`, body: blob.bytes })
    }
    const top = index?.index ?? image.manifest
    const descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.size }
    if (repoTags.length === 0) indexEntries.push(descriptor)
    for (const repoTag of repoTags) {
      indexEntries.push({
        ...descriptor,
        annotations: { 'io.containerd.image.name': fullName(repoTag), 'org.opencontainers.image.ref.name': splitRepoTag(repoTag)[1] },
      })
    }
    manifest.push({
      Config: `blobs/sha256/${hex(image.config.digest)}`,
      RepoTags: repoTags.length ? repoTags : null,
      Layers: image.layers.map((layer) => `blobs/sha256/${hex(layer.digest)}`),
    })
  }
  members.push({ name: 'index.json', body: json({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: indexEntries }) })
  members.push({ name: 'oci-layout', body: json({ imageLayoutVersion: '1.0.0' }) })
  return { members, manifest }
}

/** Writes `images` to `file` as a `docker save` tar. */
export const writeDockerArchive = async (file: string, images: ArchivedImage[], options: DockerArchiveOptions = {}): Promise<void> => {
  const { members, manifest } = options.layout === 'oci' ? ociMembers(images) : legacyMembers(images, options)
  members.push({ name: 'manifest.json', body: json(manifest) })
  const archive = pack()
  const mtime = new Date('2024-01-01T00:00:00Z')
  const writing = options.gzip ? pipeline(archive, createGzip(), createWriteStream(file)) : pipeline(archive, createWriteStream(file))
  for (const member of members) {
    if ('directory' in member) archive.entry({ name: member.name, type: 'directory', mode: 0o755, mtime })
    else if ('linkname' in member) archive.entry({ name: member.name, type: 'symlink', linkname: member.linkname, mode: 0o777, mtime })
    else await new Promise<void>((resolve, reject) => archive.entry({ name: member.name, size: member.body.byteLength, mode: 0o644, mtime }, member.body, (error) => (error ? reject(error) : resolve())))
  }
  archive.finalize()
  await writing
}
