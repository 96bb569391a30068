/**
 * Writes a built image or index as an OCI image layout directory (oci-layout, index.json, blobs/).
 * Used by `layerleak demo` and the tests; `oci:<dir>[:tag]` reads it back.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type BuiltImage, type BuiltIndex, blobsOf } from './image-builder.ts'

export const writeOciLayout = async (dir: string, built: BuiltImage | BuiltIndex, options: { tag?: string } = {}): Promise<void> => {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true })
  const { blobs, manifests } = blobsOf(built)
  for (const blob of [...blobs, ...manifests]) {
    await writeFile(join(dir, 'blobs', 'sha256', blob.digest.slice('sha256:'.length)), blob.bytes)
  }
  const top = 'index' in built ? built.index : built.manifest
  const annotations = options.tag ? { 'org.opencontainers.image.ref.name': options.tag } : undefined
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: top.mediaType, digest: top.digest, size: top.size, ...(annotations ? { annotations } : {}) }],
    }),
  )
}
