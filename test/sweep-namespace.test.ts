import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { fakeGitHubToken } from '../cli/demo-image.ts'
import type { NamespaceReport } from '../cli/scan-namespace.ts'
import type { ScanResult } from '../core/result.ts'
import { buildImage, type LayerSpec } from '../plugins/sources/image-builder.ts'
import { namespaceRepositories, parseNamespace } from '../plugins/sources/registry-catalog.ts'
import { createRegistryClient } from '../plugins/sources/registry-client.ts'
import { createCredentialStore } from '../plugins/sources/registry-credentials.ts'
import { type FakeHub, startFakeHub } from './support/fake-hub.ts'
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.ts'
import { type PaginatingProxy, startPaginatingProxy } from './support/paginating-proxy.ts'
import { pushImage, putManifest } from './support/push.ts'
import { runCli } from './support/run-cli.ts'

const host = () => inject('registryHost')
const random = () => Math.random().toString(36).slice(2, 8)
const findingsDir = () => mkdtemp(join(tmpdir(), 'layerleak-sweep-'))

const base: LayerSpec = { createdBy: 'ADD rootfs.tar /', files: [{ path: 'etc/os-release', content: 'NAME=Namespace Linux\n' }] }
const leaky = (name: string): LayerSpec => ({ createdBy: `COPY ${name} /app`, files: [{ path: `app/${name}/.git-credentials`, content: `https://ci:${fakeGitHubToken()}@github.com\n` }] })
const clean = (name: string): LayerSpec => ({ createdBy: `COPY ${name} /app`, files: [{ path: `app/${name}/README`, content: 'nothing to see\n' }] })

/** pushes an image under several tags (the same manifest bytes PUT under each) */
const pushTags = async (repository: string, layers: LayerSpec[], tags: string[]) => {
  const image = await buildImage({ layers })
  await pushImage(host(), repository, image, tags.slice(0, 1))
  for (const tag of tags.slice(1)) await putManifest(`http://${host()}`, repository, tag, image.manifest)
  return image
}

/** a repository that holds a blob and no tag: listed by the catalog, yet nothing to sweep */
const pushUntaggedRepository = async (repository: string) => {
  const bytes = new TextEncoder().encode(`orphan ${repository}`)
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
  const start = await fetch(`http://${host()}/v2/${repository}/blobs/uploads/`, { method: 'POST' })
  const location = new URL(start.headers.get('location') ?? '', `http://${host()}`)
  location.searchParams.set('digest', digest)
  await fetch(location, { method: 'PUT', body: bytes })
}

let paginator: PaginatingProxy
let proxy: FaultProxy
beforeAll(async () => {
  paginator = await startPaginatingProxy(host())
  proxy = await startFaultProxy(paginator.host)
})
afterEach(() => proxy.reset())
afterAll(() => Promise.all([proxy.close(), paginator.close()]))

describe('layerleak scan <repository> --all-tags', () => {
  const repository = `sweepcli-${random()}/app`
  beforeAll(async () => {
    await pushTags(repository, [base, leaky('one')], ['1.0', '1.1', 'latest'])
    await pushTags(repository, [base, clean('two')], ['2.0', '2.1'])
  })

  it('sweeps every tag, writes one findings file named after the repository, and exits 2 on findings', async () => {
    const dir = await findingsDir()
    const run = await runCli('node', ['scan', `${proxy.host}/${repository}`, '--all-tags', '--format', 'json', '--tag-page-size', '2', '--findings-dir', dir])
    expect(run.code, run.stderr).toBe(2)
    const result = JSON.parse(run.stdout) as ScanResult
    expect(result).toMatchObject({ mode: 'repository', status: 'completed', target_count: 2, resolved_reference: `${proxy.host}/${repository}` })
    expect(result.tag_results.map((tag) => [tag.tag, tag.status])).toEqual(['1.0', '1.1', '2.0', '2.1', 'latest'].map((tag) => [tag, 'completed']))
    const files = await readdir(dir)
    expect(files).toHaveLength(1)
    expect(files[0]).toMatch(new RegExp(`${repository.replace('/', '_')}_\\d{8}T\\d{6}Z\\.json$`))
    expect(JSON.parse(await readFile(join(dir, files[0]), 'utf8')).tag_results).toHaveLength(5)
  })

  it('refuses a tag, a digest or a local image with one line and exit 1, before asking the registry anything', async () => {
    const run = await runCli('node', ['scan', `${proxy.host}/${repository}:1.0`, '--all-tags'])
    expect(run.code).toBe(1)
    expect(run.stderr.trim().split('\n')).toEqual([expect.stringContaining('--all-tags sweeps a whole repository')])
    const local = await runCli('node', ['scan', 'docker-archive:image.tar', '--all-tags'])
    expect(local.code).toBe(1)
    expect(local.stderr.trim().split('\n')).toEqual([expect.stringContaining('--all-tags sweeps a registry repository')])
    expect(proxy.requests).toHaveLength(0)
  })

  it('refuses a reference and --namespace together', async () => {
    const run = await runCli('node', ['scan', `${proxy.host}/${repository}`, '--namespace', 'acme'])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/not both/)
  })
})

describe('layerleak scan --namespace <registry>/<prefix> (the catalog)', () => {
  const namespace = `team${random()}`
  let apiImage: Awaited<ReturnType<typeof pushTags>>
  beforeAll(async () => {
    apiImage = await pushTags(`${namespace}/api`, [base, leaky('api')], ['1', '2'])
    await pushTags(`${namespace}/web`, [base, clean('web')], ['latest'])
    await pushTags(`${namespace}/tools/worker`, [base, leaky('worker')], ['v1', 'v2', 'v3'])
    // outside the prefix: `team…-other/` is not under `team…/`
    await pushTags(`${namespace}-other/app`, [base, leaky('other')], ['latest'])
  })

  it('sweeps every repository under the prefix: one findings file each, a combined report, the worst exit code', async () => {
    const dir = await findingsDir()
    const run = await runCli('node', ['scan', '--namespace', `${proxy.host}/${namespace}`, '--format', 'json', '--tag-page-size', '2', '--findings-dir', dir])
    expect(run.code, run.stderr).toBe(2)
    const report = JSON.parse(run.stdout) as NamespaceReport
    expect(report).toMatchObject({ listing: 'catalog', status: 'completed', exit_code: 2 })
    expect(report.repositories.map((repository) => [repository.repository, repository.tags, repository.total_findings > 0, repository.exit_code])).toEqual([
      [`${proxy.host}/${namespace}/api`, 2, true, 2],
      [`${proxy.host}/${namespace}/tools/worker`, 3, true, 2],
      [`${proxy.host}/${namespace}/web`, 1, false, 0],
    ])
    const files = (await readdir(dir)).sort()
    expect(files).toHaveLength(3)
    for (const repository of report.repositories) expect(files).toContain(repository.findings_file?.split('/').pop())
    // the catalog was paged (2 a page) starting at the prefix
    const catalogPages = proxy.requests.filter((request) => request.path.startsWith('/v2/_catalog'))
    expect(catalogPages.length).toBeGreaterThan(1)
    expect(catalogPages[0].path).toContain(`last=${namespace}`)
    // one layer cache for the whole namespace: the base layer every repository shares is read once
    expect(proxy.requests.filter((request) => request.method === 'GET' && request.path.endsWith(`/blobs/${apiImage.layers[0].digest}`))).toHaveLength(1)
  })

  it('prints a combined summary naming each repository and its findings', async () => {
    const run = await runCli('node', ['scan', '--namespace', `${proxy.host}/${namespace}`, '--findings-dir', await findingsDir(), '--fail-on', 'never'])
    expect(run.code, run.stderr).toBe(0)
    for (const name of ['api', 'tools/worker', 'web']) expect(run.stdout).toContain(`${proxy.host}/${namespace}/${name}`)
    expect(run.stdout).toMatch(/2 actionable findings in 2 repositories/)
    expect(run.stdout).toContain('github')
    expect(run.stdout).not.toContain(`${namespace}-other`)
  })

  it('exits 1 when one repository cannot be swept, and still writes the others', async () => {
    const broken = `broken${random()}`
    await pushTags(`${broken}/ok`, [base, leaky('ok')], ['latest'])
    await pushUntaggedRepository(`${broken}/untagged`)
    const dir = await findingsDir()
    const run = await runCli('node', ['scan', '--namespace', `${proxy.host}/${broken}`, '--format', 'json', '--findings-dir', dir])
    expect(run.code).toBe(1)
    const report = JSON.parse(run.stdout) as NamespaceReport
    expect(report.status).toBe('partial')
    expect(report.repositories.map((repository) => [repository.repository.split('/').pop(), repository.status, repository.exit_code])).toEqual([
      ['ok', 'completed', 2],
      ['untagged', 'failed', 1],
    ])
    expect(report.repositories[1].error).toMatch(/not found/)
    expect(await readdir(dir)).toHaveLength(2)
  })
})

describe('Docker Hub namespaces, through a stand-in for Hub’s API', () => {
  let hub: FakeHub
  beforeAll(async () => {
    hub = await startFakeHub()
  })
  afterAll(() => hub.close())

  const client = () => createRegistryClient({ credentials: createCredentialStore({ env: {} }), retryBaseDelayMs: 5 })
  const list = async (namespace: string, pageSize: number) => {
    const found: string[] = []
    for await (const repository of namespaceRepositories(parseNamespace(namespace), { client: client(), hubApiUrl: hub.url, pageSize })) found.push(repository)
    return found
  }

  it('follows `next` across pages and leaves out what is not an image', async () => {
    hub.namespaces.set('acme', [{ name: 'api' }, { name: 'web' }, { name: 'docker-plugin', repository_type: 'plugin' }, { name: 'worker' }, { name: 'cli', repository_type: null }])
    hub.requests.length = 0
    expect(await list('acme', 2)).toEqual(['docker.io/acme/api', 'docker.io/acme/web', 'docker.io/acme/worker', 'docker.io/acme/cli'])
    expect(hub.requests).toEqual(['/v2/namespaces/acme/repositories?page_size=2', '/v2/namespaces/acme/repositories?page=2&page_size=2', '/v2/namespaces/acme/repositories?page=3&page_size=2'])
  })

  it('refuses a `next` link to another host and fails on an unknown namespace', async () => {
    hub.namespaces.set('acme', [{ name: 'api' }])
    hub.overrideNext('https://elsewhere.example/v2/namespaces/acme/repositories?page=2')
    await expect(list('acme', 100)).rejects.toThrow(/elsewhere\.example/)
    await expect(list('nobody', 100)).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('reads namespaces as people write them', () => {
    expect(parseNamespace('acme')).toEqual({ kind: 'hub', namespace: 'acme' })
    expect(parseNamespace('docker.io/acme/')).toEqual({ kind: 'hub', namespace: 'acme' })
    expect(parseNamespace('registry.example:5000/team/sub')).toEqual({ kind: 'catalog', registry: 'registry.example:5000', prefix: 'team/sub' })
    expect(parseNamespace('localhost:5000')).toEqual({ kind: 'catalog', registry: 'localhost:5000', prefix: '' })
    expect(() => parseNamespace('docker.io')).toThrow(/no catalog/)
    expect(() => parseNamespace('acme/team')).toThrow(/one name/)
    expect(() => parseNamespace('Acme')).toThrow(/invalid namespace/)
  })

  it('sweeps every repository of a Hub namespace end to end (Hub API for the list, the registry for the images)', async () => {
    const namespace = `hub${random()}`
    await pushTags(`${namespace}/api`, [base, leaky('hub-api')], ['1.0', 'latest'])
    await pushTags(`${namespace}/web`, [base, clean('hub-web')], ['latest'])
    hub.namespaces.set(namespace, [{ name: 'api' }, { name: 'web' }])
    const dir = await findingsDir()
    const run = await runCli('node', ['scan', '--namespace', namespace, '--format', 'json', '--findings-dir', dir], {
      env: { LAYERLEAK_HUB_API_URL: hub.url, LAYERLEAK_REGISTRY_BASE_URL: `http://${paginator.host}` },
    })
    expect(run.code, run.stderr).toBe(2)
    const report = JSON.parse(run.stdout) as NamespaceReport
    expect(report.listing).toBe('hub')
    expect(report.repositories.map((repository) => [repository.repository, repository.tags, repository.total_findings > 0])).toEqual([
      [`docker.io/${namespace}/api`, 2, true],
      [`docker.io/${namespace}/web`, 1, false],
    ])
    expect(await readdir(dir)).toHaveLength(2)
  })
})
