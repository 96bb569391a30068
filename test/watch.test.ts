import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { fakeGitHubToken } from '../cli/demo-image.ts'
import { runHistory } from '../cli/history.ts'
import { runWatch } from '../cli/watch.ts'
import type { RepositoryPass } from '../cli/watch-pass.ts'
import { connectDatabase, type LayerleakDatabase, openDatabase } from '../plugins/sinks/database.ts'
import { getFinding, listRepositoryFindings } from '../plugins/sinks/finding-queries.ts'
import type { RepositoryHistory } from '../plugins/sinks/history-queries.ts'
import { migrateUp } from '../plugins/sinks/migrations.ts'
import { buildImage, buildIndex, type LayerSpec } from '../plugins/sources/image-builder.ts'
import { registerHistoryRoute, repositoryHistorySchema } from '../server/routes/history.ts'
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.ts'
import { createTestDatabase } from './support/postgres-server.ts'
import { pushImage, uniqueRepository } from './support/push.ts'

const root = resolve(import.meta.dirname, '..')
const registry = () => inject('registryHost')
const temporary: string[] = []
const tempDir = async (name: string) => {
  const dir = await mkdtemp(join(tmpdir(), `layerleak-${name}-`))
  temporary.push(dir)
  return dir
}

/** where the watch stores: flags for the commands, and a way to look inside afterwards */
interface Storage {
  name: string
  args: Record<string, string>
  open(): Promise<LayerleakDatabase>
}

const embedded = async (): Promise<Storage> => {
  const dataDir = await tempDir('watch-data')
  return { name: 'pglite', args: { 'data-dir': dataDir }, open: () => openDatabase({ dataDir }) }
}

const server = async (): Promise<Storage> => {
  const url = await createTestDatabase(inject('postgresUrl'))
  // a server database is migrated by `layerleak migrate up`, never by the commands that use it
  const database = await connectDatabase({ url })
  await migrateUp(database.db)
  await database.close()
  return { name: 'postgresql', args: { 'database-url': url }, open: () => openDatabase({ url }) }
}

let proxy: FaultProxy
let findingsDir: string

beforeAll(async () => {
  proxy = await startFaultProxy(registry())
  findingsDir = await tempDir('watch-findings')
})

afterAll(async () => {
  await proxy?.close()
  await Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true })))
})

/** `layerleak watch --once --format json`, as the command runs it */
const watchOnce = async (repositories: string[], storage: Storage) => {
  const output: string[] = []
  const errors: string[] = []
  const code = await runWatch({
    repositories,
    args: { ...storage.args, 'findings-dir': findingsDir },
    once: true,
    format: 'json',
    logLevel: 'error',
    write: (text) => output.push(text),
    error: (text) => errors.push(text),
  })
  const passes = output
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as RepositoryPass)
  return { code, passes, stderr: errors.join('') }
}

const history = async (repository: string, storage: Storage, format: 'text' | 'json') => {
  const output: string[] = []
  const errors: string[] = []
  const code = await runHistory({ repository, args: storage.args, format, env: {}, write: (text) => output.push(text), error: (text) => errors.push(text) })
  return { code, stdout: output.join(''), stderr: errors.join('') }
}

const deleteFromRegistry = async (repository: string, kind: 'manifests' | 'blobs', digest: string) => {
  const response = await fetch(`http://${registry()}/v2/${repository}/${kind}/${digest}`, { method: 'DELETE' })
  expect(response.status).toBe(202)
}

const base: LayerSpec = { createdBy: 'ADD rootfs.tar / # buildkit', files: [{ path: 'etc/os-release', content: 'NAME="Zombie Linux"\n' }] }
const app = (version: string): LayerSpec => ({ createdBy: 'COPY app /app # buildkit', files: [{ path: 'app/main.sh', content: `echo ${version}\n` }] })

describe.each([
  ['the embedded database', embedded],
  ['a PostgreSQL server', server],
])('a tag pushed twice, watched with %s', (_, makeStorage) => {
  const token = fakeGitHubToken()
  const repository = uniqueRepository('zombie')
  const watched = () => `${proxy.host}/${repository}`
  const secretStep = 'RUN /bin/sh -c echo "https://ci:$TOKEN@github.com" > /root/.git-credentials # buildkit'
  let storage: Storage
  let first: Awaited<ReturnType<typeof buildImage>>
  let firstDigest = ''
  let secondDigest = ''

  beforeAll(async () => {
    storage = await makeStorage()
    first = await buildImage({
      layers: [base, { createdBy: secretStep, files: [{ path: 'root/.git-credentials', content: `https://ci:${token}@github.com\n` }] }, app('v1')],
    })
    firstDigest = await pushImage(registry(), repository, first, ['latest'])
    // a second tag that never moves, on an image of its own
    await pushImage(registry(), repository, await buildImage({ layers: [base, app('stable')] }), ['stable'])
  })

  it('records the first digests, finds the layers the re-push left behind, scans them once, and sees them gone once deleted', async () => {
    const firstPass = await watchOnce([watched()], storage)
    expect(firstPass.stderr).toBe('')
    expect(firstPass.code).toBe(0)
    expect(firstPass.passes).toEqual([expect.objectContaining({ repository: watched(), tags: 2, moves: [], zombie_layers: [], findings: [] })])

    // the secret is "removed" the usual way: rebuilt without the step, pushed under the same tag
    secondDigest = await pushImage(registry(), repository, await buildImage({ layers: [base, app('v2')] }), ['latest'])
    const moved = await watchOnce([watched()], storage)
    expect(moved.stderr).toBe('')
    expect(moved.code).toBe(2)
    const [pass] = moved.passes
    expect(pass.moves).toEqual([expect.objectContaining({ tag: 'latest', old_digest: firstDigest, new_digest: secondDigest })])
    const secretLayer = first.layers[1].digest
    const oldAppLayer = first.layers[2].digest
    // the base layer is in the new image too: no zombie
    expect(pass.zombie_layers.map((zombie) => [zombie.layer_index, zombie.layer_digest, zombie.status, zombie.findings])).toEqual([
      [1, secretLayer, 'scanned', 1],
      [2, oldAppLayer, 'scanned', 0],
    ])
    expect(pass.findings).toHaveLength(1)
    const [finding] = pass.findings
    expect(finding.manifest_digest).toBe(firstDigest)
    expect(finding.occurrences).toEqual([
      expect.objectContaining({
        source_type: 'zombie_layer',
        present_in_final_image: false,
        file_path: 'root/.git-credentials',
        layer_digest: secretLayer,
        build_step: secretStep,
        zombie: { tag: 'latest', old_manifest_digest: firstDigest, new_manifest_digest: secondDigest, moved_at: pass.moves[0].moved_at },
      }),
    ])
    expect(JSON.stringify(moved.passes)).not.toContain(token)
    // the findings file of the zombie scan, beside the others
    expect((await readdir(findingsDir)).some((file) => file.includes(firstDigest.slice(7, 19)))).toBe(true)

    // stored as a finding of the old image in this repository, its occurrence a zombie one
    const database = await storage.open()
    try {
      const page = await listRepositoryFindings(database.db, { registry: proxy.host, name: repository })
      expect(page?.items.map((item) => [item.manifest_digest, item.fingerprint])).toEqual([[firstDigest, finding.fingerprint]])
      const stored = await getFinding(database.db, page!.items[0].id)
      expect(stored?.occurrences).toEqual([expect.objectContaining({ source_type: 'zombie_layer', present_in_final_image: false, layer_digest: secretLayer })])
    } finally {
      await database.close()
    }

    // nothing moved: the tag list and HEADs, nothing read again
    proxy.reset()
    const still = await watchOnce([watched()], storage)
    expect(still.code).toBe(0)
    expect(still.passes).toEqual([expect.objectContaining({ moves: [], zombie_layers: [], findings: [] })])
    const requests = proxy.requests.map((request) => `${request.method} ${request.path.replace(`/v2/${repository}/`, '').replace(/\?.*$/, '')}`)
    expect(requests.filter((request) => request !== 'GET tags/list' && !request.startsWith('HEAD '))).toEqual([])
    expect(requests.filter((request) => request.startsWith('HEAD manifests/')).sort()).toEqual(['HEAD manifests/latest', 'HEAD manifests/stable'])

    // the registry collects the old image: known zombies are reported gone, what they held stays counted
    await deleteFromRegistry(repository, 'manifests', firstDigest)
    await deleteFromRegistry(repository, 'blobs', secretLayer)
    await deleteFromRegistry(repository, 'blobs', oldAppLayer)
    const collected = await watchOnce([watched()], storage)
    expect(collected.code).toBe(0)
    expect(collected.passes[0].zombie_layers.map((zombie) => [zombie.layer_digest, zombie.previous_status, zombie.status, zombie.findings])).toEqual([
      [secretLayer, 'scanned', 'gone', 1],
      [oldAppLayer, 'scanned', 'gone', 0],
    ])
    // gone is final: not even checked again
    proxy.reset()
    expect((await watchOnce([watched()], storage)).passes[0].zombie_layers).toEqual([])
    expect(proxy.requests.filter((request) => request.path.includes('/blobs/'))).toEqual([])
  })

  it('history shows the move and the zombie layers with their status and findings, as text and JSON', async () => {
    const json = await history(watched(), storage, 'json')
    expect(json.stderr).toBe('')
    expect(json.code).toBe(0)
    const recorded = JSON.parse(json.stdout) as RepositoryHistory
    expect(recorded.summary).toEqual({ tag_moves: 1, zombie_layers: { retrievable: 0, scanned: 0, failed: 0, gone: 2 }, zombie_findings: 1 })
    expect(recorded.items).toHaveLength(1)
    const [move] = recorded.items
    expect(move).toMatchObject({ tag: 'latest', old_digest: firstDigest, new_digest: secondDigest, analysis_note: null })
    expect(move.zombie_layers.map((zombie) => [zombie.layer_digest, zombie.status, zombie.findings, zombie.finding_list.length])).toEqual([
      [first.layers[1].digest, 'gone', 1, 1],
      [first.layers[2].digest, 'gone', 0, 0],
    ])
    expect(move.zombie_layers[0]).toMatchObject({ build_step: secretStep, scanned_at: expect.any(String), gone_at: expect.any(String) })
    expect(move.zombie_layers[0].finding_list[0]).toMatchObject({ file_path: 'root/.git-credentials', disposition: 'actionable' })
    expect(json.stdout).not.toContain(token)

    const text = await history(watched(), storage, 'text')
    expect(text.code).toBe(0)
    expect(text.stdout).toContain(`latest  ${firstDigest} -> ${secondDigest}`)
    expect(text.stdout).toMatch(new RegExp(`zombie layer ${first.layers[1].digest} \\(layer 1[^)]*\\): gone \\(read [^)]+, gone since [^)]+\\), 1 actionable finding`))
    expect(text.stdout).toContain('/root/.git-credentials:1')
    expect(text.stdout).not.toContain(token)
  })

  it('the history route answers the same on a bare Hono app, and 404 for a repository nothing saw', async () => {
    const database = await storage.open()
    try {
      const app = registerHistoryRoute(new Hono(), database)
      const response = await app.request(`/api/v1/repositories/${repository}/history?registry=${proxy.host}`)
      expect(response.status).toBe(200)
      const body = repositoryHistorySchema.parse(await response.json())
      expect(body.items.map((move) => [move.tag, move.old_digest, move.new_digest, move.zombie_layers.map((zombie) => zombie.status)])).toEqual([
        ['latest', firstDigest, secondDigest, ['gone', 'gone']],
      ])
      expect(JSON.stringify(body)).not.toContain(token)

      const unknown = await app.request(`/api/v1/repositories/${repository}-never/history?registry=${proxy.host}`)
      expect(unknown.status).toBe(404)
      expect(await unknown.json()).toMatchObject({ error: { code: 'NOT_FOUND' } })
      const invalid = await app.request(`/api/v1/repositories/${repository}/history?registry=${proxy.host}&limit=0`)
      expect(invalid.status).toBe(400)
    } finally {
      await database.close()
    }
  })
})

describe('watching with the embedded database', () => {
  let storage: Storage
  beforeAll(async () => {
    storage = await embedded()
  })

  it('a tag that did not move costs one HEAD and nothing else', async () => {
    const repository = uniqueRepository('quiet')
    const image = await buildImage({ layers: [base, app('quiet')] })
    await pushImage(registry(), repository, image, ['a', 'b', 'c'])
    expect((await watchOnce([`${proxy.host}/${repository}`], storage)).code).toBe(0)
    proxy.reset()
    const again = await watchOnce([`${proxy.host}/${repository}`], storage)
    expect(again.code).toBe(0)
    expect(again.passes[0]).toMatchObject({ tags: 3, moves: [], zombie_layers: [] })
    const requests = proxy.requests.map((request) => `${request.method} ${request.path.replace(`/v2/${repository}/`, '').replace(/\?.*$/, '')}`).sort()
    expect(requests).toEqual(['GET tags/list', 'HEAD manifests/a', 'HEAD manifests/b', 'HEAD manifests/c'])
  })

  it('an old image another tag still names leaves no zombie layers', async () => {
    const repository = uniqueRepository('still-tagged')
    const old = await buildImage({ layers: [base, app('old')] })
    const oldDigest = await pushImage(registry(), repository, old, ['latest', 'v1'])
    await watchOnce([`${proxy.host}/${repository}`], storage)
    await pushImage(registry(), repository, await buildImage({ layers: [base, app('new')] }), ['latest'])
    proxy.reset()
    const moved = await watchOnce([`${proxy.host}/${repository}`], storage)
    expect(moved.code).toBe(0)
    expect(moved.passes[0].moves).toEqual([expect.objectContaining({ tag: 'latest', old_digest: oldDigest })])
    expect(moved.passes[0].zombie_layers).toEqual([])
    // nothing was fetched to find that out
    expect(proxy.requests.filter((request) => request.method !== 'HEAD' && !request.path.includes('/tags/list'))).toEqual([])
    const recorded = JSON.parse((await history(`${proxy.host}/${repository}`, storage, 'json')).stdout) as RepositoryHistory
    expect(recorded.items[0].analysis_note).toBe('the old image is still tagged v1: none of its layers is orphaned')
  })

  it('a layer the new image dropped is no zombie while another tag\'s image still has it; the layers nothing uses are', async () => {
    const repository = uniqueRepository('still-used')
    const secret: LayerSpec = { createdBy: 'COPY .git-credentials /root/', files: [{ path: 'root/.git-credentials', content: `https://ci:${fakeGitHubToken()}@github.com\n` }] }
    const old = await buildImage({ layers: [base, secret, app('only-in-a')] })
    await pushImage(registry(), repository, old, ['latest'])
    await pushImage(registry(), repository, await buildImage({ layers: [base, secret, app('b')] }), ['v1'])
    await watchOnce([`${proxy.host}/${repository}`], storage)
    await pushImage(registry(), repository, await buildImage({ layers: [base, app('c')] }), ['latest'])
    const moved = await watchOnce([`${proxy.host}/${repository}`], storage)
    expect(moved.passes[0].moves).toEqual([expect.objectContaining({ tag: 'latest' })])
    expect(moved.passes[0].zombie_layers.map((zombie) => zombie.layer_digest)).toEqual([old.layers[2].digest])
  })

  it('two tags moving off the same image orphan its layers twice, but each layer is downloaded once and its findings reported once', async () => {
    const repository = uniqueRepository('zombie-twice')
    const token = fakeGitHubToken()
    const old = await buildImage({ layers: [base, { createdBy: 'COPY .git-credentials /root/', files: [{ path: 'root/.git-credentials', content: `https://ci:${token}@github.com\n` }] }] })
    await pushImage(registry(), repository, old, ['latest', 'edge'])
    await watchOnce([`${proxy.host}/${repository}`], storage)
    await pushImage(registry(), repository, await buildImage({ layers: [base, app('twice')] }), ['latest', 'edge'])
    proxy.reset()
    const moved = await watchOnce([`${proxy.host}/${repository}`], storage)
    expect(moved.code).toBe(2)
    const [pass] = moved.passes
    expect(pass.moves.map((move) => move.tag).sort()).toEqual(['edge', 'latest'])
    const secretLayer = old.layers[1].digest
    expect(pass.zombie_layers.map((zombie) => [zombie.tag, zombie.layer_digest, zombie.status, zombie.findings, zombie.detail ?? '']).sort()).toEqual(
      [
        ['edge', secretLayer, 'scanned', 1, expect.any(String)],
        ['latest', secretLayer, 'scanned', 1, expect.any(String)],
      ].sort(),
    )
    expect(pass.zombie_layers.filter((zombie) => zombie.detail === 'read before, under another move')).toHaveLength(1)
    expect(pass.findings).toHaveLength(1)
    expect(proxy.requests.filter((request) => request.method === 'GET' && request.path.endsWith(`/blobs/${secretLayer}`))).toHaveLength(1)
  })

  it('for multi-platform images, a layer is a zombie when no platform of the new index has it', async () => {
    const repository = uniqueRepository('zombie-index')
    const token = fakeGitHubToken()
    const tool: LayerSpec = { createdBy: 'COPY tool /usr/bin/tool', files: [{ path: 'usr/bin/tool', content: '#!/bin/sh\necho tool\n' }] }
    const secret: LayerSpec = { createdBy: 'COPY .git-credentials /root/', files: [{ path: 'root/.git-credentials', content: `https://bot:${token}@github.com\n` }] }
    const amd64 = { os: 'linux', architecture: 'amd64' }
    const arm64 = { os: 'linux', architecture: 'arm64' }
    const old = buildIndex([await buildImage({ platform: amd64, layers: [base, secret] }), await buildImage({ platform: arm64, layers: [base, tool] })], { attestations: true })
    const oldDigest = await pushImage(registry(), repository, old, ['latest'])
    await watchOnce([`${proxy.host}/${repository}`], storage)
    // the tool moved to amd64, arm64 lost it, the secret is gone from both
    await pushImage(registry(), repository, buildIndex([await buildImage({ platform: amd64, layers: [base, tool] }), await buildImage({ platform: arm64, layers: [base] })]), ['latest'])
    const moved = await watchOnce([`${proxy.host}/${repository}`], storage)
    expect(moved.code).toBe(2)
    const [pass] = moved.passes
    expect(pass.zombie_layers.map((zombie) => [zombie.layer_digest, zombie.platform, zombie.old_manifest_digest, zombie.status])).toEqual([
      [old.images[0].layers[1].digest, 'linux/amd64', oldDigest, 'scanned'],
    ])
    expect(pass.findings.map((finding) => [finding.manifest_digest, finding.occurrences[0].platform, finding.occurrences[0].source_type])).toEqual([
      [old.images[0].manifest.digest, 'linux/amd64', 'zombie_layer'],
    ])
  })

  it('refuses a tag or a digest: watch follows whole repositories', async () => {
    const errors: string[] = []
    const code = await runWatch({ repositories: [`${proxy.host}/team/app:latest`], args: storage.args, once: true, error: (text) => errors.push(text) })
    expect(code).toBe(1)
    expect(errors.join('')).toMatch(/give ".*team\/app" without the tag :latest/)
  })
})

describe('layerleak watch, the command', () => {
  it('passes every interval until SIGTERM, then closes the embedded database and exits 0', async () => {
    const repository = uniqueRepository('watch-cli')
    await pushImage(registry(), repository, await buildImage({ layers: [base, app('cli')] }), ['latest'])
    const dataDir = await tempDir('watch-cli-data')
    const child = spawn(resolve(root, 'node_modules/.bin/bun'), ['cli/main.ts', 'watch', `${registry()}/${repository}`, '--interval', '200ms', '--data-dir', dataDir, '--findings-dir', findingsDir], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)))
    // two passes: it keeps going on its own
    const deadline = Date.now() + 30_000
    while (stdout.split('\n').filter((line) => line.includes(`${registry()}/${repository} · 1 tag`)).length < 2) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no second pass: ${stdout}\n${stderr}`)
      await new Promise((wait) => setTimeout(wait, 50))
    }
    expect(existsSync(join(dataDir, 'pglite.lock'))).toBe(true)
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(stderr).toBe('')
    // closed cleanly: the lock is released and the database opens again, with what the watch saw
    expect(existsSync(join(dataDir, 'pglite.lock'))).toBe(false)
    const database = await openDatabase({ dataDir })
    try {
      const tags = await database.db.selectFrom('tags').select(['tag', 'digest']).execute()
      expect(tags.map((row) => row.tag)).toEqual(['latest'])
    } finally {
      await database.close()
    }
  })
})
