import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildImage, buildIndex, type BuiltIndex, whiteout } from '../plugins/sources/image-builder.ts'
import { pushFixture } from './support/explorer.ts'
import { Keys, type PtySession, runInPty } from './support/pty.ts'

const repoRoot = resolve(import.meta.dirname, '..')
const bun = join(repoRoot, 'node_modules/.bin/bun')

let built: BuiltIndex
let reference: string
beforeAll(async () => {
  const image = (architecture: string) =>
    buildImage({
      platform: { os: 'linux', architecture },
      layers: [
        { files: [{ path: 'etc/arch', content: architecture }], createdBy: 'ADD rootfs /' },
        { files: [{ path: `opt/${architecture}-only.txt`, content: 'x' }, { path: 'app/.env', content: 'TOKEN=1' }], createdBy: 'COPY . /opt # buildkit' },
        { files: [whiteout('app/.env')], createdBy: 'RUN rm /app/.env # buildkit' },
      ],
    })
  built = buildIndex([await image('amd64'), await image('arm64')], { attestations: true })
  reference = await pushFixture(built, 'explore')
})

let session: PtySession | undefined
afterEach(() => session?.kill())

describe('interactive mode in a terminal', () => {
  it('walks from platform to layer listing to a saved layer, and logs everything shown', async () => {
    const work = await mkdtemp(join(tmpdir(), 'layerleak-explore-'))
    const log = join(work, 'session.log')
    const saveDir = join(work, 'saved')
    session = runInPty([bun, join(repoRoot, 'cli/main.ts'), 'explore', reference, '--log-file', log, '-o', saveDir], { cwd: work })

    await session.waitFor('Select a platform')
    await session.waitFor('linux/arm64')
    await session.type(Keys.down + Keys.enter)
    await session.waitFor('* [1] linux/arm64')
    await session.waitFor('What next?')
    await session.type(Keys.enter) // Peek into a layer
    await session.waitFor('Peek into which layer?')
    await session.type(Keys.down + Keys.enter) // layer 1
    await session.waitFor('opt/arm64-only.txt')
    await session.waitFor(`Save layer 1 into ${saveDir}?`)
    await session.type(Keys.left + Keys.enter) // Yes
    await session.waitFor('downloaded (verified)')
    await session.waitFor('What next?')
    await session.type(Keys.down + Keys.enter) // Save layers
    await session.waitFor('Save which layers?')
    await session.type(Keys.space + Keys.down + Keys.down + Keys.space + Keys.enter) // layers 0 and 2
    await session.waitFor(/layer 2 .*downloaded \(verified\)/)
    await session.waitFor('What next?')
    await session.type(Keys.up + Keys.enter) // Quit (the list wraps around)
    expect(await session.exitCode).toBe(0)

    const layers = built.images[1].layers
    const saved = (await readdir(saveDir)).sort()
    expect(saved).toEqual(layers.map((layer) => `${layer.digest.slice(7)}.tar.gz`).sort())
    for (const layer of layers) {
      const bytes = await readFile(join(saveDir, `${layer.digest.slice(7)}.tar.gz`))
      expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(layer.digest)
    }

    const logged = await readFile(log, 'utf8')
    expect(logged).toContain('opt/arm64-only.txt')
    expect(logged).toContain('COPY . /opt')
    expect(logged).toContain(`${layers[1].digest.slice(7)}.tar.gz`)
    expect(logged).not.toContain('\u001b[')
  })

  it('starts from `layers --interactive` too, and lists what later layers removed', async () => {
    session = runInPty([bun, join(repoRoot, 'cli/main.ts'), 'layers', reference, '--interactive', '--platform', 'linux/amd64'], { cwd: repoRoot })
    await session.waitFor('Platform  linux/amd64')
    await session.waitFor('What next?')
    await session.type(Keys.up + Keys.up + Keys.enter) // List files later layers removed or replaced
    await session.waitFor(/app\/\.env +\(in layer 1, deleted by layer 2\)/)
    await session.waitFor('What next?')
    await session.type(Keys.up + Keys.enter)
    expect(await session.exitCode).toBe(0)
  })
})
