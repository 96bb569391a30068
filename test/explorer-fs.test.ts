import { describe, expect, it } from 'vitest'
import { fsReport, mergeTargetLayers, renderFsText } from '../cli/fs.ts'
import { isLayerleakError } from '../core/errors.ts'
import { buildImage, opaqueDirectory, whiteout } from '../plugins/sources/image-builder.ts'
import { pushFixture, targetOf } from './support/explorer.ts'

const image = () =>
  buildImage({
    layers: [
      { files: [{ path: 'etc/passwd', content: 'root:x:0:0\n' }, { path: 'etc/shadow', content: 'root:*:1\n', mode: 0o640 }, { path: 'var/cache/pkg/a.deb', content: 'a'.repeat(300) }] },
      { files: [{ path: 'root/.aws/credentials', content: '[default]\naws_secret_access_key=abc\n' }, { path: 'etc/passwd', content: 'root:x:0:0\napp:x:1000:1000\n' }] },
      { files: [whiteout('root/.aws'), opaqueDirectory('var/cache/pkg'), { path: 'var/cache/pkg/index', content: 'i' }] },
    ],
  })

const merged = async () => {
  const target = await targetOf(await pushFixture(await image(), 'fs-merged'))
  return { target, merged: await mergeTargetLayers(await target.layers()) }
}

const identity = { reference: 'ref', platform: 'linux/amd64', manifest_digest: 'sha256:x' }

describe('fs', () => {
  it('shows the final filesystem, each path tagged with the layer that last wrote it', async () => {
    const report = fsReport((await merged()).merged, identity)
    expect(report.entries.filter((e) => e.type !== 'directory').map((e) => [e.path, e.layer])).toEqual([
      ['etc/passwd', 1],
      ['etc/shadow', 0],
      ['var/cache/pkg/index', 2],
    ])
    expect(report.entries.find((e) => e.path === 'etc/shadow')).toMatchObject({ mode: '-rw-r-----', size: 9 })
    expect(renderFsText(report)).toMatch(/^-rw-r--r-- +27 B {2}\[1\] {2}etc\/passwd$/m)
  })

  it('restricts the listing to a subtree', async () => {
    const report = fsReport((await merged()).merged, identity, { path: '/etc/' })
    expect(report.entries.map((e) => e.path)).toEqual(['etc', 'etc/passwd', 'etc/shadow'])
  })

  it('with --deleted, lists what earlier layers had and later layers removed or replaced', async () => {
    const report = fsReport((await merged()).merged, identity, { deleted: true })
    expect(report.deleted?.map((e) => [e.path, e.layer, e.removed_by, e.how])).toEqual([
      ['etc/passwd', 0, 1, 'replaced'],
      ['root/.aws/credentials', 1, 2, 'deleted'],
      ['var/cache/pkg/a.deb', 0, 2, 'deleted'],
    ])
    expect(renderFsText(report)).toMatch(/root\/\.aws\/credentials {2}\(in layer 1, deleted by layer 2\)/)
  })

  it('finds a deleted subtree with --deleted even though the final filesystem has nothing there', async () => {
    const { merged: fs } = await merged()
    expect(fsReport(fs, identity, { path: 'root/.aws', deleted: true }).deleted?.map((e) => e.path)).toEqual(['root/.aws/credentials'])
    const failure = (() => {
      try {
        return fsReport(fs, identity, { path: 'root/.aws' })
      } catch (error) {
        return error
      }
    })()
    expect(isLayerleakError(failure, 'NOT_FOUND')).toBe(true)
    expect((failure as Error).message).toContain('--deleted')
  })
})
