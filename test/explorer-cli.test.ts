import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { lstat, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { buildImage, whiteout } from '../plugins/sources/image-builder.ts'
import { layoutFixture, pushFixture } from './support/explorer.ts'

const repoRoot = resolve(import.meta.dirname, '..')
const bun = join(repoRoot, 'node_modules/.bin/bun')

interface Run {
  code: number | null
  stdout: Buffer
  stderr: string
}

/** `layerleak ARGS` as a user runs it (Bun runs the TypeScript sources directly). */
const layerleak = (args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<Run> =>
  new Promise((done, fail) => {
    const child = spawn(bun, [join(repoRoot, 'cli/main.ts'), ...args], {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const stdout: Buffer[] = []
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk
    })
    child.on('error', fail)
    child.on('close', (code) => done({ code, stdout: Buffer.concat(stdout), stderr }))
  })

const binary = randomBytes(2048)
let reference: string
beforeAll(async () => {
  const image = await buildImage({
    layers: [
      { files: [{ path: 'bin/sh', content: 'shell', mode: 0o755 }, { path: 'usr/lib/blob.bin', content: binary }], createdBy: 'ADD rootfs /' },
      { files: [{ path: 'build/cache.tar', content: 'c'.repeat(50_000) }, { path: 'app/.env', content: 'TOKEN=abc\n' }], createdBy: 'RUN make # buildkit' },
      { files: [whiteout('build'), whiteout('app/.env')], createdBy: 'RUN rm -rf /build /app/.env # buildkit' },
    ],
    env: ['PATH=/usr/bin', 'DB_PASSWORD=correct-horse-battery-staple'],
  })
  reference = await pushFixture(image, 'cli')
})

describe('the explorer commands on the command line', () => {
  it('layers prints JSON on stdout only, env values hidden', async () => {
    const run = await layerleak(['layers', reference, '--format', 'json'])
    expect(run.code).toBe(0)
    const report = JSON.parse(run.stdout.toString())
    expect(report.layers).toHaveLength(3)
    expect(report.config.env).toEqual(['PATH=********', 'DB_PASSWORD=cor********'])
    expect(run.stdout.toString()).not.toContain('correct-horse')
  })

  it('layers --ci exits 2 and says which threshold the image exceeds', async () => {
    const run = await layerleak(['layers', reference, '--ci', '--highest-wasted-bytes', '10KB'])
    expect(run.code).toBe(2)
    expect(run.stdout.toString()).toMatch(/FAIL {2}lowest-efficiency/)
    expect(run.stdout.toString()).toMatch(/FAIL {2}highest-wasted-bytes/)
    expect(run.stderr).toContain('lowest-efficiency, highest-wasted-bytes')
  })

  it('layers --ci exits 0 when the image is within the thresholds', async () => {
    const run = await layerleak(['layers', reference, '--ci', '--lowest-efficiency', '0.01', '--highest-user-wasted-percent', '1'])
    expect(run.code).toBe(0)
    expect(run.stdout.toString()).not.toContain('FAIL')
  })

  it('cat writes the raw bytes to stdout', async () => {
    const run = await layerleak(['cat', reference, '/usr/lib/blob.bin'])
    expect(run.code).toBe(0)
    expect(run.stdout.equals(binary)).toBe(true)
  })

  it('cat of a deleted file fails with a hint, and --layer gets it', async () => {
    const deleted = await layerleak(['cat', reference, '/app/.env'])
    expect(deleted.code).toBe(1)
    expect(deleted.stdout.length).toBe(0)
    expect(deleted.stderr).toMatch(/layer 2 deleted it.*--layer 1/)
    const fromLayer = await layerleak(['cat', reference, '/app/.env', '--layer', '1'])
    expect(fromLayer.code).toBe(0)
    expect(fromLayer.stdout.toString()).toBe('TOKEN=abc\n')
  })

  it('peek --format json prints one object per entry', async () => {
    const run = await layerleak(['peek', reference, '--layer', '2', '--format', 'json'])
    expect(run.code).toBe(0)
    const entries = run.stdout.toString().trim().split('\n').map((line) => JSON.parse(line))
    expect(entries.map((e) => `${e.kind}:${e.path}`)).toEqual(['deleted:build', 'deleted:app/.env'])
  })

  it('fs --deleted shows where removed files still are', async () => {
    const run = await layerleak(['fs', reference, '--deleted'])
    expect(run.code).toBe(0)
    expect(run.stdout.toString()).toMatch(/build\/cache\.tar {2}\(in layer 1, deleted by layer 2\)/)
  })

  it('pull --extract saves the blobs and unpacks the final filesystem', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'layerleak-cli-pull-'))
    const run = await layerleak(['pull', reference, '-o', dir, '--extract', '--format', 'json'])
    expect(run.code).toBe(0)
    const report = JSON.parse(run.stdout.toString())
    expect(report.layers.map((l: { status: string }) => l.status)).toEqual(['downloaded', 'downloaded', 'downloaded'])
    expect(await readFile(join(dir, 'rootfs/bin/sh'), 'utf8')).toBe('shell')
    expect(await lstat(join(dir, 'rootfs/build')).catch(() => undefined)).toBeUndefined()
    const again = await layerleak(['pull', reference, '-o', dir])
    expect(again.code).toBe(0)
    expect(again.stdout.toString().match(/already there \(verified\)/g)).toHaveLength(3)
  })

  it('takes sources from the config file, as scan does', async () => {
    const image = await buildImage({ layers: [{ files: [{ path: 'etc/from-config', content: 'configured' }] }] })
    const layout = await layoutFixture(image)
    const dir = await mkdtemp(join(tmpdir(), 'layerleak-cli-config-'))
    // a source that serves the OCI layout under another name: only the config knows it (it replaces
    // the built-ins, whose registry source would otherwise take any name as a Docker Hub reference)
    await writeFile(
      join(dir, 'layerleak.config.ts'),
      `import { ociLayoutSource } from ${JSON.stringify(join(repoRoot, 'plugins/sources/oci-layout.ts'))}
const inner = ociLayoutSource()
export default {
  replace: { sources: true },
  sources: [{
    name: 'aliased',
    accepts: (ref) => ref === 'aliased:image',
    resolve: (ref, options) => inner.resolve(${JSON.stringify(layout)}, options),
  }],
}
`,
    )
    const run = await layerleak(['cat', 'aliased:image', '/etc/from-config'], { cwd: dir })
    expect(run.stderr).toBe('')
    expect(run.stdout.toString()).toBe('configured')
  })

  it('asks for --password-stdin rather than taking a password as a flag, as scan does', async () => {
    const run = await layerleak(['layers', reference, '--username', 'someone'])
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('--password-stdin')
  })
})
