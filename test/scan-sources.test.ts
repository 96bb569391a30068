import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { fakeGitHubToken } from '../cli/demo-image.ts'
import { type BuiltImage, buildImage, type FileSpec, whiteout } from '../plugins/sources/image-builder.ts'
import { writeDockerArchive } from './support/docker-archive-writer.ts'
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.ts'
import { pushImage, uniqueRepository } from './support/push.ts'
import { occurrencesOf, scanImageFromLayout, scanWithBuiltins } from './support/scan.ts'
import { zstdCompress } from './support/zstd.ts'

/** Three layers: a secret written, deleted, and one left in the final image. */
const secretImage = (compression: 'gzip' | 'zstd' | 'none' = 'gzip', format: 'oci' | 'docker' = 'oci') => {
  const [deleted, kept] = [fakeGitHubToken(), fakeGitHubToken()]
  const layer = (files: FileSpec[], createdBy: string) => ({
    files,
    createdBy,
    compression,
    ...(compression === 'zstd' ? { compress: zstdCompress } : {}),
  })
  return buildImage({
    format,
    layers: [
      layer([{ path: 'app/.env', content: `TOKEN=${deleted}\n` }], 'COPY .env /app/'),
      layer([whiteout('app/.env')], 'RUN rm /app/.env'),
      layer([{ path: 'app/config.json', content: `{\n  "token": "${kept}"\n}\n` }], 'COPY config.json /app/'),
    ],
  })
}

const expectDeletedAndKept = (occurrences: ReturnType<typeof occurrencesOf>, image: BuiltImage) => {
  expect(occurrences.find((o) => o.file_path === 'app/.env')).toMatchObject({ layer_index: 0, layer_digest: image.layers[0].digest, present_in_final_image: false })
  expect(occurrences.find((o) => o.file_path === 'app/config.json')).toMatchObject({ layer_index: 2, line_number: 2, present_in_final_image: true })
}

describe('every source feeds the same pipeline', () => {
  it('reads zstd layers', async () => {
    const image = await secretImage('zstd')
    expectDeletedAndKept(occurrencesOf(await scanImageFromLayout(image)), image)
  })

  it('reads uncompressed layers', async () => {
    const image = await secretImage('none')
    expectDeletedAndKept(occurrencesOf(await scanImageFromLayout(image)), image)
  })

  for (const layout of ['legacy', 'oci'] as const) {
    it(`scans a docker save archive (${layout} layout)`, async () => {
      const image = await secretImage('gzip', 'docker')
      const file = join(await mkdtemp(join(tmpdir(), 'layerleak-archive-')), 'app.tar')
      await writeDockerArchive(file, [{ image, repoTags: ['example/app:1.0'] }], { layout })
      const result = await scanWithBuiltins(`docker-archive:${file}`)
      expect(result.status).toBe('completed')
      const occurrences = occurrencesOf(result)
      expect(occurrences.find((o) => o.file_path === 'app/.env')).toMatchObject({ layer_index: 0, present_in_final_image: false })
      expect(occurrences.find((o) => o.file_path === 'app/config.json')).toMatchObject({ layer_index: 2, present_in_final_image: true })
    })
  }

  it('scans Docker schema2 images from the registry like OCI ones', async () => {
    const image = await secretImage('gzip', 'docker')
    const repository = uniqueRepository('docker-media-types')
    await pushImage(inject('registryHost'), repository, image, ['v1'])
    expectDeletedAndKept(occurrencesOf(await scanWithBuiltins(`${inject('registryHost')}/${repository}:v1`)), image)
  })
})

describe('a registry that misbehaves', () => {
  let proxy: FaultProxy
  let image: BuiltImage
  let reference: string

  beforeAll(async () => {
    image = await secretImage()
    const repository = uniqueRepository('faults')
    await pushImage(inject('registryHost'), repository, image, ['v1'])
    proxy = await startFaultProxy(inject('registryHost'))
    reference = `${proxy.host}/${repository}:v1`
  })
  afterAll(() => proxy.close())

  it('retries a 503 on a layer and completes', async () => {
    proxy.reset()
    proxy.inject({ method: 'GET', path: new RegExp(image.layers[2].digest), action: { status: 503 } })
    const result = await scanWithBuiltins(reference)
    expect(result.status).toBe('completed')
    expect(result.total_findings).toBe(2)
  })

  it('reports a corrupted layer as a digest mismatch, keeps the rest, and marks the scan partial', async () => {
    proxy.reset()
    proxy.inject({ method: 'GET', path: new RegExp(image.layers[2].digest), times: 10, action: { corrupt: true } })
    const result = await scanWithBuiltins(reference)
    expect(result.status).toBe('partial')
    expect(result.diagnostics).toContainEqual(expect.objectContaining({ code: 'digest_mismatch', subject: image.layers[2].digest }))
    expect(result.coverage.layers_failed).toBe(1)
    expect(occurrencesOf(result).some((o) => o.file_path === 'app/.env')).toBe(true)
  })

  it('reports a truncated layer as failed rather than passing it silently', async () => {
    proxy.reset()
    proxy.inject({ method: 'GET', path: new RegExp(image.layers[0].digest), times: 10, action: { shorten: 40 } })
    const result = await scanWithBuiltins(reference)
    expect(result.status).toBe('partial')
    expect(result.diagnostics.some((d) => d.subject === image.layers[0].digest && ['digest_mismatch', 'layer_failed'].includes(d.code))).toBe(true)
  })

  it('follows a token challenge and scans with the token', async () => {
    proxy.reset()
    proxy.setAuth({ type: 'bearer', expiresIn: 60 })
    const result = await scanWithBuiltins(reference)
    expect(result.status).toBe('completed')
    expect(proxy.tokenRequests.length).toBeGreaterThan(0)
  })

  it('fails the scan with the registry\'s reason when the image does not exist', async () => {
    proxy.reset()
    const result = await scanWithBuiltins(reference.replace(/:v1$/, ':missing'))
    expect(result.status).toBe('failed')
    expect(result.diagnostics[0]).toMatchObject({ code: 'resolve_failed', message: expect.stringMatching(/not found|unknown/i) })
  })
})
