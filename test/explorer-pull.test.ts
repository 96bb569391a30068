import { createHash } from 'node:crypto'
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { extractLayers, pullLayer } from '../cli/pull.ts'
import { isLayerleakError } from '../core/errors.ts'
import { MediaTypes } from '../core/media-types.ts'
import { buildImage, type FileSpec, opaqueDirectory, whiteout } from '../plugins/sources/image-builder.ts'
import { makeLayer } from '../plugins/sources/layer-reader.ts'
import { pushFixture, targetOf } from './support/explorer.ts'
import { zstdCompress } from './support/zstd.ts'

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`
const tempDir = () => mkdtemp(join(tmpdir(), 'layerleak-pull-'))
const exists = (path: string) => lstat(path).then(() => true, () => false)

const pullAll = async (reference: string, dir: string) => {
  const layers = await (await targetOf(reference)).layers()
  return Promise.all(layers.map((layer) => pullLayer(layer, dir)))
}

describe('pull', () => {
  it('saves each layer blob under its digest, with the extension its bytes call for, verified', async () => {
    const image = await buildImage({
      layers: [
        { files: [{ path: 'a', content: 'gzip layer' }] },
        { files: [{ path: 'b', content: 'zstd layer' }], compression: 'zstd', compress: zstdCompress },
        { files: [{ path: 'c', content: 'plain tar layer' }], compression: 'none' },
      ],
    })
    const dir = await tempDir()
    const pulled = await pullAll(await pushFixture(image, 'pull-blobs'), dir)
    expect(pulled.map((p) => p.file.slice(dir.length + 1))).toEqual([
      `${image.layers[0].digest.slice(7)}.tar.gz`,
      `${image.layers[1].digest.slice(7)}.tar.zst`,
      `${image.layers[2].digest.slice(7)}.tar`,
    ])
    for (const [i, p] of pulled.entries()) {
      expect(p.status).toBe('downloaded')
      expect(sha256(await readFile(p.file))).toBe(image.layers[i].digest)
    }
    // nothing but the blobs: no temp files left behind
    expect((await readdir(dir)).sort()).toEqual(pulled.map((p) => p.file.slice(dir.length + 1)).sort())
  })

  it('does not download again a blob already saved and verified', async () => {
    const image = await buildImage({ layers: [{ files: [{ path: 'a', content: 'x' }] }] })
    const reference = await pushFixture(image, 'pull-again')
    const dir = await tempDir()
    const [first] = await pullAll(reference, dir)
    const before = await stat(first.file)
    const [second] = await pullAll(reference, dir)
    expect(second).toMatchObject({ status: 'present', file: first.file })
    expect((await stat(first.file)).mtimeMs).toBe(before.mtimeMs)
  })

  it('replaces a file that has the blob name but not its bytes', async () => {
    const image = await buildImage({ layers: [{ files: [{ path: 'a', content: 'x' }] }] })
    const dir = await tempDir()
    const file = join(dir, `${image.layers[0].digest.slice(7)}.tar.gz`)
    await writeFile(file, 'truncated')
    const [pulled] = await pullAll(await pushFixture(image, 'pull-corrupt'), dir)
    expect(pulled.status).toBe('downloaded')
    expect(sha256(await readFile(file))).toBe(image.layers[0].digest)
  })

  it('leaves nothing under the blob name when the bytes do not match the digest', async () => {
    const image = await buildImage({ layers: [{ files: [{ path: 'a', content: 'the real bytes' }] }] })
    const wrongDigest = sha256(new TextEncoder().encode('something else'))
    const bytes = image.layers[0].bytes
    const layer = makeLayer({ digest: wrongDigest, mediaType: MediaTypes.ociLayerGzip, size: bytes.byteLength }, 0, async () => new Blob([bytes as Uint8Array<ArrayBuffer>]).stream())
    const dir = await tempDir()
    const failure = await pullLayer(layer, dir).catch((error) => error)
    expect(isLayerleakError(failure, 'DIGEST_MISMATCH')).toBe(true)
    expect(await readdir(dir)).toEqual([])
  })
})

describe('pull --extract', () => {
  const extract = async (layers: FileSpec[][]) => {
    const image = await buildImage({ layers: layers.map((files) => ({ files })) })
    const dir = await tempDir()
    await mkdir(join(dir, 'out'))
    const pulled = await pullAll(await pushFixture(image, 'extract'), join(dir, 'out'))
    const root = join(dir, 'out', 'rootfs')
    const totals = await extractLayers(pulled, root)
    return { dir, root, totals }
  }

  it('unpacks the layers in order, applying whiteouts and opaque directories', async () => {
    const { root, totals } = await extract([
      [
        { path: 'etc/app.conf', content: 'v1' },
        { path: 'app/.env', content: 'SECRET=1' },
        { path: 'cache/old', content: 'old' },
        { path: 'bin/tool', content: 'tool', mode: 0o755 },
        { path: 'bin/tool-link', type: 'hardlink', linkname: 'bin/tool' },
        { path: 'bin/sh', type: 'symlink', linkname: '/bin/tool' },
      ],
      [{ path: 'etc/app.conf', content: 'v2' }, whiteout('app/.env'), opaqueDirectory('cache'), { path: 'cache/new', content: 'new' }],
    ])
    expect(await readFile(join(root, 'etc/app.conf'), 'utf8')).toBe('v2')
    expect(await exists(join(root, 'app/.env'))).toBe(false)
    expect(await readdir(join(root, 'cache'))).toEqual(['new'])
    expect((await stat(join(root, 'bin/tool-link'))).ino).toBe((await stat(join(root, 'bin/tool'))).ino)
    // an absolute link target means "inside the image": rewritten relative so it stays in the root
    expect(await readlink(join(root, 'bin/sh'))).toBe('tool')
    expect((await stat(join(root, 'bin/tool'))).mode & 0o777).toBe(0o755)
    expect(totals.refused).toEqual([])
  })

  it('drops setuid, setgid and sticky bits', async () => {
    const { root } = await extract([[{ path: 'usr/bin/su', content: 'su', mode: 0o4755 }, { path: 'usr/bin/wall', content: 'w', mode: 0o2755 }, { path: 'tmp', type: 'directory', mode: 0o1777 }]])
    expect((await stat(join(root, 'usr/bin/su'))).mode & 0o7777).toBe(0o755)
    expect((await stat(join(root, 'usr/bin/wall'))).mode & 0o7777).toBe(0o755)
    expect((await stat(join(root, 'tmp'))).mode & 0o7000).toBe(0)
  })

  it('refuses what would escape the root, device nodes and fifos, and extracts the rest', async () => {
    const outside = await tempDir()
    const { dir, root, totals } = await extract([
      [
        { path: 'ok/before.txt', content: 'fine' },
        { path: '../../victim-dotdot', content: 'escaped' },
        { path: '/abs/file', content: 'absolute' },
        { path: 'escape', type: 'symlink', linkname: '../../../../../../../../tmp' },
        { path: 'evil', type: 'symlink', linkname: outside },
        // the tar-stream writer takes any type name; the image builder's type only lists the common ones
        { path: 'dev/mem2', type: 'character-device' as FileSpec['type'] },
        { path: 'dev/sda9', type: 'block-device' as FileSpec['type'] },
        { path: 'run/pipe', type: 'fifo' as FileSpec['type'] },
        { path: 'ok/stolen', type: 'hardlink', linkname: '../../../../etc/passwd' },
      ],
      [
        { path: 'evil/pwned', content: 'written through a symlink' },
        { path: 'evil', type: 'directory' },
        { path: 'ok/after.txt', content: 'also fine' },
      ],
    ])
    const refused = totals.refused.map((r) => `${r.layer}:${r.path}`)
    expect(refused).toEqual(['0:../../victim-dotdot', '0:escape', '0:dev/mem2', '0:dev/sda9', '0:run/pipe', '0:ok/stolen', '1:evil/pwned'])
    expect(totals.refused.find((r) => r.path === 'evil/pwned')?.reason).toContain('symlink')
    expect(await readdir(outside)).toEqual([])
    expect(await exists(join(dir, 'victim-dotdot'))).toBe(false)
    expect(await exists(join(root, '..', '..', 'victim-dotdot'))).toBe(false)
    // the reader already makes `/abs/file` relative, so it lands inside the root
    expect(await readFile(join(root, 'abs/file'), 'utf8')).toBe('absolute')
    expect(await readFile(join(root, 'ok/before.txt'), 'utf8')).toBe('fine')
    expect(await readFile(join(root, 'ok/after.txt'), 'utf8')).toBe('also fine')
    // the later directory entry replaced the symlink with a real directory
    expect((await lstat(join(root, 'evil'))).isDirectory()).toBe(true)
    expect(await exists(join(root, 'dev/mem2'))).toBe(false)
  })
})
