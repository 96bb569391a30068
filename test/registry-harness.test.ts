import { describe, expect, inject, it } from 'vitest'
import { buildImage } from '../plugins/sources/image-builder.ts'
import { pushImage, uniqueRepository } from './support/push.ts'

describe('the test registry', () => {
  it('accepts a pushed image and serves its manifest by tag', async () => {
    const host = inject('registryHost')
    const repository = uniqueRepository('harness')
    const image = await buildImage({ layers: [{ files: [{ path: 'etc/hello.txt', content: 'hi' }] }] })
    await pushImage(host, repository, image, ['v1'])
    const response = await fetch(`http://${host}/v2/${repository}/manifests/v1`, {
      headers: { accept: image.manifest.mediaType },
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('docker-content-digest')).toBe(image.manifest.digest)
  })
})
