import { describe, expect, it } from 'vitest'
import { analyzeLayers, evaluateCi } from '../core/layer-analysis.ts'
import { type EntryMeta, mergeLayers } from '../core/merged-filesystem.ts'

const file = (path: string, size = 0, mode = 0o644): EntryMeta => ({ path, type: 'file', size, mode })
const dir = (path: string, mode = 0o755): EntryMeta => ({ path, type: 'directory', size: 0, mode })
const symlink = (path: string, linkname: string): EntryMeta => ({ path, type: 'symlink', size: 0, mode: 0o777, linkname })
const wh = (path: string): EntryMeta => {
  const slash = path.lastIndexOf('/')
  return file(`${path.slice(0, slash + 1)}.wh.${path.slice(slash + 1)}`)
}
const opaque = (path: string): EntryMeta => file(`${path}/.wh..wh..opq`)

const paths = (merged: ReturnType<typeof mergeLayers>, under = '') => [...merged.entries(under)].map((entry) => `${entry.path}@${entry.layer}`)

describe('the merged filesystem', () => {
  it('shows each path with the layer that last wrote it', () => {
    const merged = mergeLayers([[dir('etc'), file('etc/hosts', 10), file('etc/passwd', 20)], [file('etc/passwd', 25)]])
    expect(paths(merged)).toEqual(['etc@0', 'etc/hosts@0', 'etc/passwd@1'])
    expect(merged.removed).toEqual([expect.objectContaining({ path: 'etc/passwd', layer: 0, removedBy: 1, how: 'replaced', size: 20 })])
  })

  it('hides a whited-out file and keeps it aside as deleted', () => {
    const merged = mergeLayers([[file('app/.env', 40), file('app/main.js', 5)], [wh('app/.env')]])
    expect(paths(merged)).toEqual(['app@-1', 'app/main.js@0'])
    expect(merged.removed).toEqual([expect.objectContaining({ path: 'app/.env', layer: 0, removedBy: 1, how: 'deleted' })])
  })

  it('whiting out a directory deletes everything under it', () => {
    const merged = mergeLayers([[dir('opt'), dir('opt/tool'), file('opt/tool/a', 1), file('opt/tool/b', 2)], [wh('opt/tool')]])
    expect(paths(merged)).toEqual(['opt@0'])
    expect(merged.removed.map((entry) => entry.path).sort()).toEqual(['opt/tool/a', 'opt/tool/b'])
  })

  it('an opaque directory hides lower layers but keeps what its own layer put there', () => {
    const merged = mergeLayers([[file('srv/old', 3), file('srv/keep-not', 4)], [opaque('srv'), file('srv/new', 5)]])
    expect(paths(merged)).toEqual(['srv@-1', 'srv/new@1'])
    expect(merged.removed.map((entry) => `${entry.path}:${entry.how}`).sort()).toEqual(['srv/keep-not:deleted', 'srv/old:deleted'])
  })

  it('a whiteout never hides an entry of its own layer, whatever the archive order', () => {
    const merged = mergeLayers([[file('x', 1)], [file('x', 2), wh('x')]])
    expect(merged.get('x')).toMatchObject({ layer: 1, size: 2 })
  })

  it('a file replacing a directory takes the directory subtree with it', () => {
    const merged = mergeLayers([[dir('lib'), file('lib/a.so', 7)], [symlink('lib', 'usr/lib')]])
    expect(paths(merged)).toEqual(['lib@1'])
    expect(merged.removed).toEqual([expect.objectContaining({ path: 'lib/a.so', removedBy: 1, how: 'deleted' })])
  })

  it('lists a subtree, and what was removed under it', () => {
    const merged = mergeLayers([[file('a/x', 1), file('b/y', 2)], [wh('a/x'), wh('b/y')]])
    expect(paths(merged, '/b/')).toEqual(['b@-1'])
    expect(merged.removedUnder('a').map((entry) => entry.path)).toEqual(['a/x'])
  })

  it('counts per layer what was added, modified and removed', () => {
    const merged = mergeLayers([[file('a', 100), file('b', 50)], [file('a', 120), file('c', 30), wh('b')]])
    expect(merged.deltas[1]).toMatchObject({ added: { count: 1, bytes: 30 }, modified: { count: 1, bytes: 120 }, removed: { count: 1, bytes: 50 } })
  })
})

describe('layer analysis', () => {
  // layer 0: base (1000 B); layer 1 adds a 4000 B archive and a tool; layer 2 deletes the archive and overwrites a config
  const crafted = () =>
    analyzeLayers([
      [dir('bin'), file('bin/sh', 600, 0o755), file('etc/app.conf', 400), dir('tmp', 0o1777)],
      [file('build/deps.tar', 4000), file('usr/bin/curl', 500, 0o755), file('usr/bin/passwd', 100, 0o4755), file('srv/data', 10, 0o666)],
      [wh('build/deps.tar'), file('etc/app.conf', 450)],
    ])

  it('counts the bytes of files removed or overwritten by a later layer as wasted', () => {
    const analysis = crafted()
    expect(analysis.totalBytes).toBe(1000 + 4610 + 450)
    expect(analysis.wastedBytes).toBe(4000 + 400)
    expect(analysis.wasted).toEqual([
      { path: 'build/deps.tar', size: 4000, layer: 1, removedBy: 2, how: 'deleted' },
      { path: 'etc/app.conf', size: 400, layer: 0, removedBy: 2, how: 'replaced' },
    ])
  })

  it('scores efficiency as 1 - wasted/total and user waste against the layers after the base', () => {
    const analysis = crafted()
    expect(analysis.efficiency).toBeCloseTo(1 - 4400 / 6060, 10)
    expect(analysis.userBytes).toBe(4610 + 450)
    expect(analysis.userWastedPercent).toBeCloseTo(4400 / 5060, 10)
  })

  it('flags world-writable files, setuid binaries and tools left in the final image (not sticky /tmp)', () => {
    const analysis = crafted()
    expect(analysis.worldWritable.map((f) => f.path)).toEqual(['srv/data'])
    expect(analysis.setuid.map((f) => f.path)).toEqual(['usr/bin/passwd'])
    expect(analysis.tools.map((t) => `${t.kind}:${t.path}`).sort()).toEqual(['network:usr/bin/curl', 'shell:bin/sh'])
  })

  it('fails the CI checks the image does not meet, and only those', () => {
    const checks = evaluateCi(crafted(), { lowestEfficiency: 0.25, highestWastedBytes: 1000, highestUserWastedPercent: 0.9 })
    expect(checks.map((c) => `${c.rule}:${c.passed}`)).toEqual(['lowest-efficiency:true', 'highest-wasted-bytes:false', 'highest-user-wasted-percent:true'])
  })

  it('scores an image with nothing wasted as fully efficient', () => {
    const analysis = analyzeLayers([[file('a', 10)], [file('b', 10)]])
    expect(analysis.efficiency).toBe(1)
    expect(analysis.wasted).toEqual([])
  })
})
