/**
 * Repository sweeps: 150 tags over 3 images that share a ~4 MB base layer, on the test registry
 * behind a proxy that answers every manifest request 10 ms late (a registry across a network) and
 * pages tags/list as Docker Hub does. Compares the manifest requests in flight per host (1, 4, 8)
 * and a sweep against scanning tag after tag as separate scans. Figures: bench/README.md.
 */
import { afterAll, bench, describe, inject } from 'vitest'
import { fakeGitHubToken } from '../cli/demo-image.ts'
import { scanReference } from '../core/scan.ts'
import { builtinDetectors } from '../plugins/detectors/catalog.ts'
import { fixturesFilter } from '../plugins/filters/fixtures.ts'
import { buildImage, type LayerSpec } from '../plugins/sources/image-builder.ts'
import { registrySource } from '../plugins/sources/registry.ts'
import { startPaginatingProxy } from '../test/support/paginating-proxy.ts'
import { pushImage, putManifest, uniqueRepository } from '../test/support/push.ts'
import { startQuotaProxy } from '../test/support/quota-proxy.ts'

const host = inject('registryHost')
const paginator = await startPaginatingProxy(host)
const registry = await startQuotaProxy(paginator.host)
registry.setLatency(10)
afterAll(() => Promise.all([registry.close(), paginator.close()]))

/** ~4 MB of ordinary text files: the base layer every image shares */
const base: LayerSpec = {
  createdBy: 'ADD rootfs.tar /',
  files: Array.from({ length: 200 }, (_, i) => ({
    path: `usr/share/doc/pkg-${i}/README`,
    content: Array.from({ length: 400 }, (_, line) => `line ${line} of package ${i}: the quick brown fox jumps over the lazy dog`).join('\n'),
  })),
}
const repository = uniqueRepository('sweep-bench')
const tags: string[] = []
for (const name of ['a', 'b', 'c']) {
  const image = await buildImage({ layers: [base, { createdBy: `COPY ${name} /app`, files: [{ path: `app/${name}/.git-credentials`, content: `https://ci:${fakeGitHubToken()}@github.com\n` }] }] })
  const names = Array.from({ length: 50 }, (_, i) => `${name}-${String(i).padStart(3, '0')}`)
  await pushImage(host, repository, image, names.slice(0, 1))
  for (const tag of names.slice(1)) await putManifest(`http://${host}`, repository, tag, image.manifest)
  tags.push(...names)
}

const scan = (reference: string, allTags: boolean, maxRequestsPerHost = 4) =>
  scanReference({
    reference,
    ...(allTags ? { allTags: true } : {}),
    sources: [registrySource({ env: {}, maxRequestsPerHost })],
    detectors: builtinDetectors,
    filters: [fixturesFilter()],
  })

const options = { iterations: 3, time: 0, warmupIterations: 1, warmupTime: 0 }

describe('sweep 150 tags over 3 images (10 ms per manifest request)', () => {
  for (const inFlight of [1, 4, 8]) {
    bench(
      `sweep, ${inFlight} manifest request${inFlight === 1 ? '' : 's'} in flight`,
      async () => {
        const result = await scan(`${registry.host}/${repository}`, true, inFlight)
        if (result.status !== 'completed' || result.tag_results.length !== 150) throw new Error(`sweep ${result.status}`)
      },
      options,
    )
  }
  bench(
    'one scan per tag, 15 tags (×10 for 150)',
    async () => {
      for (const tag of tags.filter((_, i) => i % 10 === 0)) {
        const result = await scan(`${registry.host}/${repository}:${tag}`, false)
        if (result.status !== 'completed') throw new Error(`scan of ${tag} ${result.status}`)
      }
    },
    options,
  )
})
