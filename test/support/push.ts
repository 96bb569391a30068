/**
 * Pushes built images to a registry over the distribution API, as `docker push` does: blobs by
 * chunked upload (POST then PUT with the digest), manifests last.
 */
import { type BuiltBlob, type BuiltImage, type BuiltIndex, blobsOf } from '../../plugins/sources/image-builder.ts'

const uploadBlob = async (base: string, repository: string, blob: BuiltBlob): Promise<void> => {
  const head = await fetch(`${base}/v2/${repository}/blobs/${blob.digest}`, { method: 'HEAD' })
  if (head.status === 200) return
  const start = await fetch(`${base}/v2/${repository}/blobs/uploads/`, { method: 'POST' })
  if (start.status !== 202) throw new Error(`upload start for ${repository}: ${start.status} ${await start.text()}`)
  const location = new URL(start.headers.get('location') ?? '', base)
  location.searchParams.set('digest', blob.digest)
  const put = await fetch(location, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
    body: blob.bytes as Uint8Array<ArrayBuffer>,
  })
  if (put.status !== 201) throw new Error(`upload of ${blob.digest} to ${repository}: ${put.status} ${await put.text()}`)
}

export const putManifest = async (base: string, repository: string, reference: string, manifest: BuiltBlob): Promise<void> => {
  const response = await fetch(`${base}/v2/${repository}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': manifest.mediaType },
    body: manifest.bytes as Uint8Array<ArrayBuffer>,
  })
  if (response.status !== 201) throw new Error(`manifest ${reference} to ${repository}: ${response.status} ${await response.text()}`)
}

/** Pushes every blob and manifest; tags the top manifest (or index) with each tag given. */
export const pushImage = async (registryHost: string, repository: string, built: BuiltImage | BuiltIndex, tags: string[] = []): Promise<string> => {
  const base = `http://${registryHost}`
  const { blobs, manifests } = blobsOf(built)
  for (const blob of blobs) await uploadBlob(base, repository, blob)
  for (const manifest of manifests) await putManifest(base, repository, manifest.digest, manifest)
  const top = 'index' in built ? built.index : built.manifest
  for (const tag of tags) await putManifest(base, repository, tag, top)
  return top.digest
}

/** A repository name unique to this test, so tests can run in parallel against one registry. */
export const uniqueRepository = (name: string): string =>
  `test/${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${Math.random().toString(36).slice(2, 8)}`
