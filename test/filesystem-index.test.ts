import { describe, expect, it } from 'vitest'
import { classifyWhiteout, LayerChanges, presentInFinalImage } from '../core/filesystem-index.ts'

const layer = (...entries: [string, 'file' | 'directory' | 'symlink'][]) => {
  const changes = new LayerChanges()
  for (const [path, type] of entries) changes.record(path, type)
  return changes
}

describe('whiteout replay (OCI image-spec changesets)', () => {
  it('recognises whiteouts and opaque markers', () => {
    expect(classifyWhiteout('etc/.wh.secret.env')).toEqual({ kind: 'whiteout', target: 'etc/secret.env' })
    expect(classifyWhiteout('.wh.root.txt')).toEqual({ kind: 'whiteout', target: 'root.txt' })
    expect(classifyWhiteout('app/.wh..wh..opq')).toEqual({ kind: 'opaque', directory: 'app' })
    expect(classifyWhiteout('etc/passwd')).toBeUndefined()
  })

  it('keeps a file no later layer touches', () => {
    const layers = [layer(['app/.env', 'file']), layer(['usr/bin/tool', 'file'])]
    expect(presentInFinalImage(layers, 0, 'app/.env')).toBe(true)
  })

  it('hides a file whited out by a later layer', () => {
    const layers = [layer(['app/.env', 'file']), layer(['app/.wh..env', 'file'])]
    expect(presentInFinalImage(layers, 0, 'app/.env')).toBe(false)
  })

  it('hides everything under a whited-out directory', () => {
    const layers = [layer(['app/conf/key.pem', 'file']), layer(['.wh.app', 'file'])]
    expect(presentInFinalImage(layers, 0, 'app/conf/key.pem')).toBe(false)
  })

  it('hides lower contents of an opaque directory but not the same layer\'s', () => {
    const layers = [layer(['app/old.env', 'file']), layer(['app/.wh..wh..opq', 'file'], ['app/new.env', 'file'])]
    expect(presentInFinalImage(layers, 0, 'app/old.env')).toBe(false)
    expect(presentInFinalImage(layers, 1, 'app/new.env')).toBe(true)
  })

  it('treats a file rewritten by a later layer as gone from the final image', () => {
    const layers = [layer(['app/config.yml', 'file']), layer(['app/config.yml', 'file'])]
    expect(presentInFinalImage(layers, 0, 'app/config.yml')).toBe(false)
    expect(presentInFinalImage(layers, 1, 'app/config.yml')).toBe(true)
  })

  it('hides a directory\'s files when a later layer replaces the directory with a symlink', () => {
    const layers = [layer(['opt/app/token', 'file']), layer(['opt/app', 'symlink'])]
    expect(presentInFinalImage(layers, 0, 'opt/app/token')).toBe(false)
  })

  it('does not hide a file when a later layer merely re-creates its directory', () => {
    const layers = [layer(['opt/app/token', 'file']), layer(['opt/app', 'directory'], ['opt/app/other', 'file'])]
    expect(presentInFinalImage(layers, 0, 'opt/app/token')).toBe(true)
  })

  it('does not let a whiteout hide a file a later layer adds back', () => {
    const layers = [layer(['a.env', 'file']), layer(['.wh.a.env', 'file']), layer(['a.env', 'file'])]
    expect(presentInFinalImage(layers, 0, 'a.env')).toBe(false)
    expect(presentInFinalImage(layers, 2, 'a.env')).toBe(true)
  })
})
