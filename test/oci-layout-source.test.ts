import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Layer, ResolveOptions, Target } from '../core/contracts.ts'
import { isLayerleakError } from '../core/errors.ts'
import { defaultLimits } from '../core/limits.ts'
import { MediaTypes } from '../core/media-types.ts'
import type { Diagnostic } from '../core/result.ts'
import { blobOf, type BuiltImage, buildImage, buildIndex } from '../plugins/sources/image-builder.ts'
import { ociLayoutSource, parseOciReference } from '../plugins/sources/oci-layout.ts'
import { writeOciLayout } from '../plugins/sources/oci-layout-writer.ts'

const resolveAll = async (reference: string, extra: Partial<ResolveOptions> = {}, source = ociLayoutSource()) => {
  const diagnostics: Diagnostic[] = []
  const targets: Target[] = []
  for await (const target of source.resolve(reference, { limits: defaultLimits, report: (d) => diagnostics.push(d), ...extra })) targets.push(target)
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
    files[entry.path] = Buffer.concat(chunks).toString()
  }
  return files
}

const blobFile = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length))

let root: string
let counter = 0
const freshDir = async () => {
  const dir = join(root, `layout-${counter++}`)
  return dir
}

const imageOf = (name: string, platform = { os: 'linux', architecture: 'amd64' }): Promise<BuiltImage> =>
  buildImage({
    platform,
    env: [`IMAGE=${name}`],
    layers: [
      { files: [{ path: 'etc/name', content: name }], createdBy: 'COPY name /etc/name' },
      { files: [{ path: 'app/config.yml', content: `token: ${name}-secret` }], compression: 'none' },
    ],
  })

/** adds more entries to index.json, as `skopeo copy` into an existing layout does */
const addToIndex = async (dir: string, image: BuiltImage, tag: string) => {
  await writeFile(blobFile(dir, image.manifest.digest), image.manifest.bytes)
  for (const blob of [image.config, ...image.layers]) await writeFile(blobFile(dir, blob.digest), blob.bytes)
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'))
  index.manifests.push({ mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size, annotations: { 'org.opencontainers.image.ref.name': tag } })
  await writeFile(join(dir, 'index.json'), JSON.stringify(index))
}

let image: BuiltImage
let tagged: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'layerleak-oci-layout-'))
  image = await imageOf('first')
  tagged = await freshDir()
  await writeOciLayout(tagged, image, { tag: 'v1' })
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('oci: references', () => {
  it('takes the tag after the last colon unless a slash follows it', () => {
    expect(parseOciReference('oci:/images/app:v1')).toEqual({ dir: '/images/app', tag: 'v1' })
    expect(parseOciReference('oci:/images/app')).toEqual({ dir: '/images/app' })
    expect(parseOciReference('oci:/images/with:colon/app')).toEqual({ dir: '/images/with:colon/app' })
    expect(parseOciReference('oci:/images/build:v2/')).toEqual({ dir: '/images/build:v2' })
    expect(parseOciReference('oci:rel/dir:latest', '/work')).toEqual({ dir: '/work/rel/dir', tag: 'latest' })
    const digest = `sha256:${'a'.repeat(64)}`
    expect(parseOciReference(`oci:/images/app@${digest}`)).toEqual({ dir: '/images/app', digest })
    expect(parseOciReference(`oci:/images/app:v1@${digest}`)).toEqual({ dir: '/images/app', tag: 'v1', digest })
  })

  it('rejects an empty tag, a bad digest and a missing directory', () => {
    for (const bad of ['oci:/images/app:', 'oci:/images/app@sha256:abc', 'oci:', 'oci::v1']) {
      expect(() => parseOciReference(bad), bad).toThrow(expect.objectContaining({ code: 'INVALID_REFERENCE' }))
    }
  })

  it('accepts only oci: references', () => {
    const source = ociLayoutSource()
    expect(source.accepts('oci:/x')).toBe(true)
    expect(source.accepts('docker-archive:/x.tar')).toBe(false)
    expect(source.accepts('alpine:3.20')).toBe(false)
  })
})

describe('resolving an OCI layout', () => {
  it('finds an image by tag and reads its config and layers', async () => {
    const { targets } = await resolveAll(`oci:${tagged}:v1`)
    expect(targets).toHaveLength(1)
    const [target] = targets
    expect(target).toMatchObject({
      reference: `oci:${tagged}:v1`,
      registry: 'oci',
      repository: tagged,
      resolvedDigest: image.manifest.digest,
      tags: ['v1'],
      platform: { os: 'linux', architecture: 'amd64' },
    })
    expect(target.manifest.digest).toBe(image.manifest.digest)
    expect((await target.config()).env).toEqual(['IMAGE=first'])
    const layers = await target.layers()
    expect(layers.map((layer) => [layer.index, layer.digest])).toEqual(image.layers.map((layer, i) => [i, layer.digest]))
    expect(await filesOf(layers[0])).toEqual({ 'etc/name': 'first' })
    expect(await filesOf(layers[1])).toEqual({ 'app/config.yml': 'token: first-secret' })
  })

  it('finds an image by digest', async () => {
    const { targets } = await resolveAll(`oci:${tagged}@${image.manifest.digest}`)
    expect(targets.map((target) => target.manifest.digest)).toEqual([image.manifest.digest])
    expect(targets[0].reference).toBe(`oci:${tagged}@${image.manifest.digest}`)
  })

  it('takes the only image when no tag is given', async () => {
    const { targets } = await resolveAll(`oci:${tagged}`)
    expect(targets.map((target) => target.manifest.digest)).toEqual([image.manifest.digest])
    expect(targets[0].tags).toEqual(['v1'])
  })

  it('resolves a relative directory against the configured working directory', async () => {
    const { targets } = await resolveAll(`oci:${relative(root, tagged)}:v1`, {}, ociLayoutSource({ cwd: root }))
    expect(targets[0].repository).toBe(tagged)
  })

  it('picks among several images by tag, and asks which one when none is named', async () => {
    const dir = await freshDir()
    const second = await imageOf('second')
    await writeOciLayout(dir, image, { tag: 'v1' })
    await addToIndex(dir, second, 'v2')
    const { targets } = await resolveAll(`oci:${dir}:v2`)
    expect(targets.map((target) => target.manifest.digest)).toEqual([second.manifest.digest])
    expect((await targets[0].config()).env).toEqual(['IMAGE=second'])
    const error = await failureOf(resolveAll(`oci:${dir}`))
    expect(isLayerleakError(error, 'INVALID_REFERENCE')).toBe(true)
    expect((error as Error).message).toMatch(/v1.*v2/)
  })

  it('says which tags exist when the tag is not there', async () => {
    const error = await failureOf(resolveAll(`oci:${tagged}:nope`))
    expect(isLayerleakError(error, 'NOT_FOUND')).toBe(true)
    expect((error as Error).message).toContain('v1')
  })

  it('resolves an index to its platforms and reports the attestations it skips', async () => {
    const dir = await freshDir()
    const arm = await imageOf('arm', { os: 'linux', architecture: 'arm64' })
    const index = buildIndex([image, arm], { attestations: true })
    await writeOciLayout(dir, index, { tag: 'multi' })
    const { targets, diagnostics } = await resolveAll(`oci:${dir}:multi`)
    expect(targets.map((target) => [target.platform?.architecture, target.manifest.digest])).toEqual([
      ['amd64', image.manifest.digest],
      ['arm64', arm.manifest.digest],
    ])
    expect(targets.every((target) => target.resolvedDigest === index.index.digest)).toBe(true)
    expect(diagnostics.filter((d) => d.code === 'attestation_skipped')).toHaveLength(2)
    const { targets: armOnly } = await resolveAll(`oci:${dir}:multi`, { platform: 'linux/arm64' })
    expect(armOnly.map((target) => target.manifest.digest)).toEqual([arm.manifest.digest])
    expect(await filesOf((await armOnly[0].layers())[0])).toEqual({ 'etc/name': 'arm' })
  })

  it('follows an index nested in an index', async () => {
    const dir = await freshDir()
    const arm = await imageOf('arm', { os: 'linux', architecture: 'arm64' })
    const inner = buildIndex([image, arm])
    const outer = blobOf(
      new TextEncoder().encode(
        JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ mediaType: MediaTypes.ociIndex, digest: inner.index.digest, size: inner.index.size }] }),
      ),
      MediaTypes.ociIndex,
    )
    await writeOciLayout(dir, { ...inner, index: outer }, { tag: 'nested' })
    await writeFile(blobFile(dir, inner.index.digest), inner.index.bytes)
    const { targets } = await resolveAll(`oci:${dir}:nested`)
    expect(targets.map((target) => target.platform?.architecture)).toEqual(['amd64', 'arm64'])
  })

  it('scans the platforms a layout holds and reports the ones it does not', async () => {
    const dir = await freshDir()
    const arm = await imageOf('arm', { os: 'linux', architecture: 'arm64' })
    await writeOciLayout(dir, buildIndex([image, arm]), { tag: 'partial' })
    await unlink(blobFile(dir, arm.manifest.digest))
    const { targets, diagnostics } = await resolveAll(`oci:${dir}:partial`)
    expect(targets.map((target) => target.platform?.architecture)).toEqual(['amd64'])
    expect(diagnostics).toEqual([expect.objectContaining({ code: 'platform_not_in_layout', subject: arm.manifest.digest })])
    const error = await failureOf(resolveAll(`oci:${dir}:partial`, { platform: 'linux/arm64' }))
    expect(isLayerleakError(error, 'NOT_FOUND')).toBe(true)
    expect((error as Error).message).toContain(blobFile(dir, arm.manifest.digest))
  })

  it('refuses a platform a single image does not have', async () => {
    const error = await failureOf(resolveAll(`oci:${tagged}:v1`, { platform: 'linux/arm64' }))
    expect(isLayerleakError(error, 'PLATFORM_NOT_FOUND')).toBe(true)
  })
})

describe('broken layouts', () => {
  it('names the missing file when a layer blob is gone', async () => {
    const dir = await freshDir()
    await writeOciLayout(dir, image, { tag: 'v1' })
    await unlink(blobFile(dir, image.layers[1].digest))
    const [target] = (await resolveAll(`oci:${dir}:v1`)).targets
    const layers = await target.layers()
    expect(await filesOf(layers[0])).toEqual({ 'etc/name': 'first' })
    const error = await failureOf(filesOf(layers[1]))
    expect(isLayerleakError(error, 'NOT_FOUND')).toBe(true)
    expect((error as Error).message).toContain(blobFile(dir, image.layers[1].digest))
  })

  it('names the missing file when the manifest or config blob is gone', async () => {
    const dir = await freshDir()
    await writeOciLayout(dir, image, { tag: 'v1' })
    await unlink(blobFile(dir, image.config.digest))
    const configError = await failureOf(resolveAll(`oci:${dir}:v1`))
    expect(isLayerleakError(configError, 'NOT_FOUND')).toBe(true)
    expect((configError as Error).message).toContain(blobFile(dir, image.config.digest))
    await unlink(blobFile(dir, image.manifest.digest))
    const manifestError = await failureOf(resolveAll(`oci:${dir}:v1`))
    expect((manifestError as Error).message).toContain(blobFile(dir, image.manifest.digest))
  })

  it('fails with DIGEST_MISMATCH when a blob was altered', async () => {
    const dir = await freshDir()
    await writeOciLayout(dir, image, { tag: 'v1' })
    const configPath = blobFile(dir, image.config.digest)
    await writeFile(configPath, (await readFile(configPath, 'utf8')).replace('IMAGE=first', 'IMAGE=forged'))
    const error = await failureOf(resolveAll(`oci:${dir}:v1`))
    expect(isLayerleakError(error, 'DIGEST_MISMATCH')).toBe(true)
  })

  it('says what is wrong with a directory that is not a layout', async () => {
    const notLayout = await mkdtemp(join(root, 'plain-'))
    const error = await failureOf(resolveAll(`oci:${notLayout}`))
    expect(isLayerleakError(error, 'NOT_FOUND')).toBe(true)
    expect((error as Error).message).toMatch(/oci-layout/)
    const missing = await failureOf(resolveAll(`oci:${join(root, 'does-not-exist')}`))
    expect((missing as Error).message).toMatch(/no such directory/)
  })

  it('rejects an image layout version it does not know', async () => {
    const dir = await freshDir()
    await writeOciLayout(dir, image, { tag: 'v1' })
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '2.0.0' }))
    const error = await failureOf(resolveAll(`oci:${dir}:v1`))
    expect(isLayerleakError(error, 'UNSUPPORTED_SCHEMA')).toBe(true)
  })
})
