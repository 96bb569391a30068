import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Layer, ResolveOptions, Target } from '../core/contracts.ts'
import { isLayerleakError } from '../core/errors.ts'
import { defaultLimits } from '../core/limits.ts'
import { MediaTypes } from '../core/media-types.ts'
import type { Diagnostic } from '../core/result.ts'
import { dockerArchiveSource, normaliseRepoTag } from '../plugins/sources/docker-archive.ts'
import { type BuiltImage, buildImage, buildIndex, buildTar, type FileSpec } from '../plugins/sources/image-builder.ts'
import { writeOciLayout } from '../plugins/sources/oci-layout-writer.ts'
import { type ArchivedImage, type DockerArchiveOptions, writeDockerArchive } from './support/docker-archive-writer.ts'

const resolveAll = async (reference: string, extra: Partial<ResolveOptions> = {}) => {
  const diagnostics: Diagnostic[] = []
  const targets: Target[] = []
  for await (const target of dockerArchiveSource().resolve(reference, { limits: defaultLimits, report: (d) => diagnostics.push(d), ...extra })) targets.push(target)
  return { targets, diagnostics }
}

const failureOf = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a failure')
}

const filesOf = async (layer: Layer): Promise<Record<string, string>> => {
  const files: Record<string, string> = {}
  for await (const entry of layer.entries()) {
    const chunks: Uint8Array[] = []
    for await (const chunk of entry.body) chunks.push(chunk)
    files[entry.path] = entry.type === 'symlink' ? `-> ${entry.linkname}` : Buffer.concat(chunks).toString()
  }
  return files
}

/** what the image builder was asked to put in each layer, as filesOf reads it back */
const expectedFiles = (layers: FileSpec[][]): Record<string, string>[] =>
  layers.map((files) => Object.fromEntries(files.map((file) => [file.path, file.type === 'symlink' ? `-> ${file.linkname}` : String(file.content ?? '')])))

let root: string
let counter = 0
const archivePath = (name = 'image') => join(root, `${name}-${counter++}.tar`)

const write = async (images: ArchivedImage[], options: DockerArchiveOptions = {}, name?: string) => {
  const file = archivePath(name)
  await writeDockerArchive(file, images, options)
  return file
}

const appLayers: FileSpec[][] = [
  [{ path: 'etc/os-release', content: 'ID=test' }],
  [
    { path: 'app/.env', content: 'DATABASE_URL=postgres://app:s3cret@db/app' },
    { path: 'app/current', type: 'symlink', linkname: '.env' },
  ],
]
let app: BuiltImage
let other: BuiltImage
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'layerleak-docker-archive-'))
  app = await buildImage({ format: 'docker', env: ['NAME=app'], layers: appLayers.map((files) => ({ files })) })
  other = await buildImage({ format: 'docker', env: ['NAME=other'], layers: [{ files: [{ path: 'other.txt', content: 'other' }] }] })
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('legacy docker save archives (Docker <= 24)', () => {
  it('reads the image: tags, config, and every layer entry as written', async () => {
    const file = await write([{ image: app, repoTags: ['app:1.0'] }])
    const { targets, diagnostics } = await resolveAll(`docker-archive:${file}`)
    expect(diagnostics).toEqual([])
    expect(targets).toHaveLength(1)
    const [target] = targets
    expect(target).toMatchObject({ reference: `docker-archive:${file}`, registry: 'docker-archive', repository: file, tags: ['app:1.0'] })
    expect(target.platform).toEqual({ os: 'linux', architecture: 'amd64' })
    expect((await target.config()).env).toEqual(['NAME=app'])
    const layers = await target.layers()
    // no compressed digests in a legacy archive: each layer is named by its uncompressed bytes, its diff_id
    expect(layers.map((layer) => layer.digest)).toEqual(app.layers.map((layer) => layer.diffId))
    expect(layers.map((layer) => layer.mediaType)).toEqual([MediaTypes.ociLayer, MediaTypes.ociLayer])
    expect(await Promise.all(layers.map(filesOf))).toEqual(expectedFiles(appLayers))
  })

  it('builds a stable manifest for the image, so findings key the same way on every scan', async () => {
    const first = (await resolveAll(`docker-archive:${await write([{ image: app, repoTags: ['app:1.0'] }])}`)).targets[0]
    const second = (await resolveAll(`docker-archive:${await write([{ image: app, repoTags: ['app:2.0'] }])}`)).targets[0]
    expect(first.manifest.mediaType).toBe(MediaTypes.dockerManifest)
    expect(first.manifest.digest).toMatch(/^sha256:[a-f0-9]{64}$/)
    expect(first.manifest.digest).toBe(second.manifest.digest)
    expect(first.resolvedDigest).toBe(first.manifest.digest)
    expect(first.manifest.raw).toMatchObject({ config: { digest: app.config.digest } })
  })

  it('follows the symlink docker save writes for a layer it already saved', async () => {
    const repeated = await buildImage({ layers: [{ files: [{ path: 'same', content: 'x' }] }, { files: [{ path: 'other', content: 'y' }] }, { files: [{ path: 'same', content: 'x' }] }] })
    const file = await write([{ image: repeated }])
    const layers = await (await resolveAll(`docker-archive:${file}`)).targets[0].layers()
    expect(await Promise.all(layers.map(filesOf))).toEqual([{ same: 'x' }, { other: 'y' }, { same: 'x' }])
  })

  it('reads archives whose layers are compressed blobs (go-containerregistry tarballs)', async () => {
    const file = await write([{ image: app, repoTags: ['app:1.0'] }], { compressedLayers: true })
    const layers = await (await resolveAll(`docker-archive:${file}`)).targets[0].layers()
    expect(layers.map((layer) => [layer.digest, layer.mediaType])).toEqual(app.layers.map((layer) => [layer.digest, MediaTypes.dockerLayer]))
    expect(await Promise.all(layers.map(filesOf))).toEqual(expectedFiles(appLayers))
  })

  it('fails a layer with DIGEST_MISMATCH when its bytes are not the diff_id the config records', async () => {
    const tampered: BuiltImage = { ...app, layers: [app.layers[0], { ...app.layers[1], tar: await buildTar([{ path: 'app/.env', content: 'swapped' }]) }] }
    const file = await write([{ image: tampered }])
    const layers = await (await resolveAll(`docker-archive:${file}`)).targets[0].layers()
    const error = await failureOf(filesOf(layers[1]))
    expect(isLayerleakError(error, 'DIGEST_MISMATCH')).toBe(true)
  })
})

describe('Docker 25+ archives (an OCI layout inside the tar)', () => {
  it('reads the real manifest and layers from the blobs', async () => {
    const file = await write([{ image: app, repoTags: ['app:1.0'] }], { layout: 'oci' })
    const { targets } = await resolveAll(`docker-archive:${file}`)
    expect(targets).toHaveLength(1)
    const [target] = targets
    expect(target.manifest.digest).toBe(app.manifest.digest)
    expect(target.resolvedDigest).toBe(app.manifest.digest)
    expect(target.tags).toEqual(['app:1.0'])
    const layers = await target.layers()
    expect(layers.map((layer) => layer.digest)).toEqual(app.layers.map((layer) => layer.digest))
    expect(await Promise.all(layers.map(filesOf))).toEqual(expectedFiles(appLayers))
  })

  it('finds the platform it holds inside a multi-platform index', async () => {
    const arm = await buildImage({ platform: { os: 'linux', architecture: 'arm64' }, layers: [{ files: [{ path: 'arm', content: 'arm' }] }] })
    const index = buildIndex([app, arm])
    const file = await write([{ image: app, repoTags: ['app:multi'], index }], { layout: 'oci' })
    const [target] = (await resolveAll(`docker-archive:${file}`)).targets
    expect(target.manifest.digest).toBe(app.manifest.digest)
    expect(target.resolvedDigest).toBe(index.index.digest)
    expect(await filesOf((await target.layers())[0])).toEqual(expectedFiles(appLayers)[0])
  })
})

describe('choosing among several images', () => {
  let file: string
  beforeAll(async () => {
    file = await write([
      { image: app, repoTags: ['app:1.0', 'registry.example.com:5000/team/app:1.0'] },
      { image: other, repoTags: ['other:2'] },
    ])
  })

  it('takes the first image and reports the others', async () => {
    const { targets, diagnostics } = await resolveAll(`docker-archive:${file}`)
    expect(targets.map((target) => target.tags)).toEqual([['app:1.0', 'registry.example.com:5000/team/app:1.0']])
    expect(diagnostics).toEqual([expect.objectContaining({ code: 'archive_images_not_scanned', subject: file })])
    expect(diagnostics[0].message).toContain('other:2')
  })

  it('picks an image by repo:tag, however Docker Hub names are spelled', async () => {
    for (const name of ['other:2', 'docker.io/library/other:2']) {
      const { targets } = await resolveAll(`docker-archive:${file}:${name}`)
      expect((await targets[0].config()).env, name).toEqual(['NAME=other'])
      expect(targets[0].reference).toBe(`docker-archive:${file}:${name}`)
    }
    const { targets } = await resolveAll(`docker-archive:${file}:registry.example.com:5000/team/app:1.0`)
    expect((await targets[0].config()).env).toEqual(['NAME=app'])
  })

  it('picks an image by position', async () => {
    const { targets } = await resolveAll(`docker-archive:${file}:@1`)
    expect(targets[0].tags).toEqual(['other:2'])
  })

  it('lists what the archive has when the name is not there', async () => {
    const error = await failureOf(resolveAll(`docker-archive:${file}:missing:1`))
    expect(isLayerleakError(error, 'NOT_FOUND')).toBe(true)
    expect((error as Error).message).toMatch(/app:1\.0.*other:2/)
  })
})

describe('archives docker-archive cannot read', () => {
  it('asks for a gzipped archive to be gunzipped first', async () => {
    const file = await write([{ image: app }], { gzip: true })
    const error = await failureOf(resolveAll(`docker-archive:${file}`))
    expect(isLayerleakError(error, 'INVALID_ARCHIVE')).toBe(true)
    expect((error as Error).message).toMatch(/gzip-compressed.*gunzip/)
  })

  it('says when a tar is an OCI layout rather than a docker save', async () => {
    const dir = join(root, `layout-${counter++}`)
    await writeOciLayout(dir, app)
    const file = archivePath('oci-only')
    const { spawnSync } = await import('node:child_process')
    expect(spawnSync('tar', ['-cf', file, '-C', dir, '.']).status).toBe(0)
    const error = await failureOf(resolveAll(`docker-archive:${file}`))
    expect(isLayerleakError(error, 'INVALID_ARCHIVE')).toBe(true)
    expect((error as Error).message).toMatch(/oci:/)
  })

  it('rejects a file that is not a tar', async () => {
    const file = archivePath('not-a-tar')
    await writeFile(file, 'just some text that is long enough to fill a tar header block '.repeat(20))
    const error = await failureOf(resolveAll(`docker-archive:${file}`))
    expect(isLayerleakError(error, 'INVALID_ARCHIVE')).toBe(true)
  })

  it('names the file it could not find', async () => {
    const error = await failureOf(resolveAll(`docker-archive:${join(root, 'nope.tar')}:app:1.0`))
    expect(isLayerleakError(error, 'NOT_FOUND')).toBe(true)
    expect((error as Error).message).toContain(join(root, 'nope.tar'))
  })

  it('finds a file whose name contains a colon', async () => {
    const file = await write([{ image: app, repoTags: ['app:1.0'] }], {}, 'with:colon')
    const { targets } = await resolveAll(`docker-archive:${file}:app:1.0`)
    expect(targets[0].repository).toBe(file)
  })

  it('refuses a platform the image is not', async () => {
    const file = await write([{ image: app }])
    const error = await failureOf(resolveAll(`docker-archive:${file}`, { platform: 'linux/arm64' }))
    expect(isLayerleakError(error, 'PLATFORM_NOT_FOUND')).toBe(true)
  })
})

describe('image names in archives', () => {
  it('normalises Docker Hub names and default tags the way docker does', () => {
    expect(normaliseRepoTag('alpine')).toBe('alpine:latest')
    expect(normaliseRepoTag('docker.io/library/alpine:3.20')).toBe('alpine:3.20')
    expect(normaliseRepoTag('docker.io/org/app:1')).toBe('org/app:1')
    expect(normaliseRepoTag('localhost:5000/app')).toBe('localhost:5000/app:latest')
  })
})
