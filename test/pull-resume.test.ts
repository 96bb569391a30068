import { type ChildProcess, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { commandFor, type Runtime } from './support/run-cli.ts'
import { partialPath, pullLayer } from '../cli/pull.ts'
import type { Layer } from '../core/contracts.ts'
import { isLayerleakError } from '../core/errors.ts'
import type { ScanEvent } from '../core/events.ts'
import { defaultLimits } from '../core/limits.ts'
import { type BuiltImage, buildImage } from '../plugins/sources/image-builder.ts'
import { dockerArchiveSource } from '../plugins/sources/docker-archive.ts'
import { writeDockerArchive } from './support/docker-archive-writer.ts'
import { layoutFixture, pushFixture, targetOf } from './support/explorer.ts'
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.ts'

const repoRoot = resolve(import.meta.dirname, '..')
const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`
const tempDir = () => mkdtemp(join(tmpdir(), 'layerleak-resume-'))
const sizeOrNothing = (path: string) => stat(path).then((info) => info.size, () => undefined)
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

let proxy: FaultProxy
let image: BuiltImage
let reference: string
// random bytes do not compress: the gzip blob is as large as the file, big enough to cut mid-body
const payload = randomBytes(400_000)

beforeAll(async () => {
  proxy = await startFaultProxy(inject('registryHost'))
  image = await buildImage({ layers: [{ files: [{ path: 'data/payload.bin', content: payload }] }] })
  reference = await pushFixture(image, 'pull-resume', proxy.host)
})
afterAll(() => proxy.close())
beforeEach(() => proxy.reset())

const blob = () => image.layers[0]
const blobPath = () => new RegExp(`/blobs/${blob().digest}$`)
const blobGets = () => proxy.requests.filter((request) => request.method === 'GET' && request.path.endsWith(`/blobs/${blob().digest}`))
const ranges = () => blobGets().map((request) => request.headers.range)
/** a fresh Layer, as a new run of `pull` resolves it */
const layerOf = async (ref = reference): Promise<Layer> => (await (await targetOf(ref)).layers())[0]

const pull = async (layer: Layer, dir: string) => {
  const events: ScanEvent[] = []
  const pulled = await pullLayer(layer, dir, { onEvent: (event) => events.push(event) })
  const diagnostics = events.flatMap((event) => (event.type === 'diagnostic' ? [event.diagnostic.code] : []))
  const progress = events.flatMap((event) => (event.type === 'layer-progress' ? [event.bytes] : []))
  return { pulled, diagnostics, progress }
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a failure')
    },
    (error) => error as Error & { code: string },
  )

/** the directory holds the verified blob and nothing else (no partial, no lock) */
const expectOnlyTheBlob = async (dir: string, file: string) => {
  expect(sha256(await readFile(file))).toBe(blob().digest)
  expect(await readdir(dir)).toEqual([file.slice(dir.length + 1)])
}

describe('pull resumes a download an earlier run left', () => {
  it('keeps the bytes of a download cut part-way, and the next run asks only for the rest', async () => {
    const dir = await tempDir()
    proxy.inject({ method: 'GET', path: blobPath(), action: { truncate: 150_000 } })
    const error = await failure(pullLayer(await layerOf(), dir))
    expect(error.code).toBe('NETWORK_ERROR')
    expect(error.message).toContain(`150000 of ${blob().size} bytes are kept in ${partialPath(dir, blob().digest)}: pull again to resume`)
    expect(await sizeOrNothing(partialPath(dir, blob().digest))).toBe(150_000)
    expect(await readdir(dir)).toEqual([`.${blob().digest.slice(7)}.partial`])

    proxy.reset()
    const { pulled, diagnostics, progress } = await pull(await layerOf(), dir)
    expect(ranges()).toEqual(['bytes=150000-'])
    expect(pulled.status).toBe('downloaded')
    expect(diagnostics).toEqual([])
    // the bar starts at the kept bytes and never goes back
    expect(progress[0]).toBe(150_000)
    expect(progress.every((bytes, i) => i === 0 || bytes >= progress[i - 1])).toBe(true)
    expect(progress.at(-1)).toBe(blob().size)
    await expectOnlyTheBlob(dir, pulled.file)
  })

  it('starts over from the first byte when the registry ignores the range (200, the whole blob)', async () => {
    const dir = await tempDir()
    await writeFile(partialPath(dir, blob().digest), blob().bytes.subarray(0, 100_000))
    proxy.inject({ method: 'GET', path: blobPath(), action: { respond: { status: 200, body: blob().bytes } } })
    const { pulled, diagnostics } = await pull(await layerOf(), dir)
    // one request: its whole body was written from byte 0, not after the kept bytes
    expect(ranges()).toEqual(['bytes=100000-'])
    expect(diagnostics).toEqual(['resume_refused'])
    await expectOnlyTheBlob(dir, pulled.file)
  })

  it('asks again for the whole blob when the registry answers another range', async () => {
    const dir = await tempDir()
    await writeFile(partialPath(dir, blob().digest), blob().bytes.subarray(0, 100_000))
    const size = blob().size
    proxy.inject({ method: 'GET', path: blobPath(), action: { respond: { status: 206, headers: { 'content-range': `bytes 0-${size - 1}/${size}` }, body: blob().bytes } } })
    const { pulled, diagnostics } = await pull(await layerOf(), dir)
    expect(ranges()).toEqual(['bytes=100000-', undefined])
    expect(diagnostics).toEqual(['resume_refused'])
    await expectOnlyTheBlob(dir, pulled.file)
  })

  it('finds kept bytes that are wrong at the end, and downloads the blob once more from scratch', async () => {
    const dir = await tempDir()
    const kept = Buffer.from(blob().bytes.subarray(0, 100_000))
    kept[5_000] ^= 0xff
    await writeFile(partialPath(dir, blob().digest), kept)
    const { pulled, diagnostics } = await pull(await layerOf(), dir)
    expect(ranges()).toEqual(['bytes=100000-', undefined])
    expect(diagnostics).toEqual(['partial_discarded'])
    await expectOnlyTheBlob(dir, pulled.file)
  })

  it('fails when the download from scratch is wrong too: no third try, nothing kept', async () => {
    const dir = await tempDir()
    const kept = Buffer.from(blob().bytes.subarray(0, 100_000))
    kept[5_000] ^= 0xff
    await writeFile(partialPath(dir, blob().digest), kept)
    proxy.inject({ method: 'GET', path: blobPath(), times: Infinity, action: { corrupt: true } })
    const error = await failure(pullLayer(await layerOf(), dir))
    expect(error.code).toBe('DIGEST_MISMATCH')
    expect(ranges()).toEqual(['bytes=100000-', undefined])
    expect(await readdir(dir)).toEqual([])
  })

  it('discards a partial larger than the blob before asking for anything', async () => {
    const dir = await tempDir()
    await writeFile(partialPath(dir, blob().digest), Buffer.concat([blob().bytes, Buffer.from('trailing bytes')]))
    const { pulled, diagnostics } = await pull(await layerOf(), dir)
    expect(ranges()).toEqual([undefined])
    expect(diagnostics).toEqual(['partial_discarded'])
    await expectOnlyTheBlob(dir, pulled.file)
  })

  it('renames a complete, right partial (a run killed before its rename) without downloading', async () => {
    const dir = await tempDir()
    await writeFile(partialPath(dir, blob().digest), blob().bytes)
    const { pulled } = await pull(await layerOf(), dir)
    expect(blobGets()).toEqual([])
    expect(pulled.status).toBe('downloaded')
    await expectOnlyTheBlob(dir, pulled.file)
  })
})

describe('resuming from local sources reads from the offset', () => {
  // the source's copy is damaged inside the kept prefix: only a read that starts past it verifies
  const damage = (bytes: Buffer, at: number) => {
    bytes[at] ^= 0xff
    return bytes
  }

  it('oci: a positioned read in the blob file', async () => {
    const layout = await layoutFixture(image)
    const dir = await tempDir()
    const blobFile = join(layout.slice('oci:'.length, -':test'.length), 'blobs/sha256', blob().digest.slice(7))
    await writeFile(blobFile, damage(await readFile(blobFile), 5_000))
    await writeFile(partialPath(dir, blob().digest), blob().bytes.subarray(0, 200_000))
    const { pulled, diagnostics, progress } = await pull(await layerOf(layout), dir)
    expect(diagnostics).toEqual([])
    expect(progress[0]).toBe(200_000)
    await expectOnlyTheBlob(dir, pulled.file)
  })

  it('docker-archive: a positioned read in the archive member', async () => {
    const built = await buildImage({ format: 'docker', layers: [{ files: [{ path: 'data/payload.bin', content: payload }] }] })
    const archive = join(await tempDir(), 'image.tar')
    await writeDockerArchive(archive, [{ image: built, repoTags: ['app:1'] }])
    // a legacy archive holds the layer as its tar, named by its diff_id
    const tar = Buffer.from(built.layers[0].tar)
    const bytes = await readFile(archive)
    const member = bytes.indexOf(tar)
    expect(member).toBeGreaterThan(0)
    await writeFile(archive, damage(bytes, member + 20))
    let layer: Layer | undefined
    for await (const target of dockerArchiveSource().resolve(`docker-archive:${archive}`, { limits: defaultLimits, report: () => {} })) layer = (await target.layers())[0]
    if (!layer) throw new Error('no layer')
    expect(layer.digest).toBe(sha256(tar))
    const dir = await tempDir()
    await writeFile(partialPath(dir, layer.digest), tar.subarray(0, 200_000))
    const { pulled, diagnostics, progress } = await pull(layer, dir)
    expect(diagnostics).toEqual([])
    expect(progress[0]).toBe(200_000)
    expect(sha256(await readFile(pulled.file))).toBe(layer.digest)
  })
})

describe('one writer per partial', () => {
  /** `layerleak pull` in another process, as a user runs it, its blob stalled part-way */
  const startCliPull = (dir: string, runtime: Runtime = 'node'): ChildProcess => {
    proxy.inject({ method: 'GET', path: blobPath(), action: { stall: { after: 120_000, ms: 20_000 } } })
    const [command, ...prefix] = commandFor(runtime)
    return spawn(command, [...prefix, 'pull', reference, '-o', dir], {
      env: { ...process.env, NO_COLOR: '1', DOCKER_CONFIG: '/nonexistent/layerleak-test-docker-config' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
  }
  const exitOf = (child: ChildProcess) =>
    new Promise<{ code: number | null; stderr: string }>((done) => {
      let stderr = ''
      child.stderr?.on('data', (chunk) => (stderr += chunk))
      child.on('close', (code) => done({ code, stderr }))
    })
  /** waits until the partial holds `bytes` */
  const partialReaches = async (dir: string, bytes: number) => {
    for (let waited = 0; waited < 15_000; waited += 50) {
      if (((await sizeOrNothing(partialPath(dir, blob().digest))) ?? 0) >= bytes) return
      await sleep(50)
    }
    throw new Error('the partial never grew')
  }

  it.each(['node', 'bun', 'deno'] as Runtime[])('Ctrl-C stops a pull cleanly: the partial is kept, the lock dropped, and the next run resumes (%s)', async (runtime) => {
    const dir = await tempDir()
    const child = startCliPull(dir, runtime)
    const exit = exitOf(child)
    await partialReaches(dir, 120_000)
    child.kill('SIGINT')
    const { code, stderr } = await exit
    expect(code).toBe(1)
    expect(stderr).toContain('pull again to resume')
    expect(await readdir(dir)).toEqual([`.${blob().digest.slice(7)}.partial`])

    proxy.reset()
    const { pulled } = await pull(await layerOf(), dir)
    expect(ranges()).toEqual(['bytes=120000-'])
    await expectOnlyTheBlob(dir, pulled.file)
  })

  it('a second pull of the same blob into the same directory fails, naming the first, and leaves its partial alone', async () => {
    const dir = await tempDir()
    const child = startCliPull(dir)
    const exit = exitOf(child)
    try {
      await partialReaches(dir, 120_000)
      const error = await failure(pullLayer(await layerOf(), dir))
      expect(isLayerleakError(error, 'LOCKED')).toBe(true)
      expect(error.message).toContain(`another layerleak pull (pid ${child.pid}) is downloading ${blob().digest}`)
      expect(await sizeOrNothing(partialPath(dir, blob().digest))).toBe(120_000)
    } finally {
      child.kill('SIGINT')
      await exit
    }
  })

  it('takes over the lock of a pull whose process is gone', async () => {
    const dir = await tempDir()
    const gone = spawn(process.execPath, ['-e', ''])
    await new Promise((done) => gone.on('close', done))
    await writeFile(`${partialPath(dir, blob().digest)}.lock`, `${gone.pid}@${hostname()}\n`)
    const { pulled } = await pull(await layerOf(), dir)
    await expectOnlyTheBlob(dir, pulled.file)
  })

  it.each(['bun', 'deno'] as Runtime[])('the real bin takes over the lock of a pull whose process is gone (%s)', async (runtime) => {
    const dir = await tempDir()
    const gone = spawn(process.execPath, ['-e', ''])
    await new Promise((done) => gone.on('close', done))
    await writeFile(`${partialPath(dir, blob().digest)}.lock`, `${gone.pid}@${hostname()}\n`)
    proxy.reset()
    const [command, ...prefix] = commandFor(runtime)
    const child = spawn(command, [...prefix, 'pull', reference, '-o', dir], { env: { ...process.env, NO_COLOR: '1', DOCKER_CONFIG: '/nonexistent/layerleak-test-docker-config' }, stdio: ['ignore', 'pipe', 'pipe'] })
    const { code, stderr } = await exitOf(child)
    expect(code, stderr).toBe(0)
    expect((await readdir(dir)).filter((name) => name.startsWith('.'))).toEqual([])
  })

  it('pulls of one digest in one process wait for each other (an image may list a blob twice)', async () => {
    const dir = await tempDir()
    const [first, second] = await Promise.all([pullLayer(await layerOf(), dir), pullLayer(await layerOf(), dir)])
    expect([first.status, second.status]).toEqual(['downloaded', 'present'])
    expect(blobGets()).toHaveLength(1)
    await expectOnlyTheBlob(dir, first.file)
  })
})
