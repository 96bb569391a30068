import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { inject } from 'vitest'
import { catFromImage, catFromLayer } from '../cli/cat.ts'
import { memoryWriter } from '../cli/explorer-io.ts'
import { printLayerListings } from '../cli/peek.ts'
import { isLayerleakError } from '../core/errors.ts'
import { buildImage, opaqueDirectory, whiteout } from '../plugins/sources/image-builder.ts'
import { type CountingProxy, startCountingProxy } from './support/counting-proxy.ts'
import { layoutFixture, pushFixture, targetOf } from './support/explorer.ts'

const LONG_DIR = `srv/${'deeply-nested-directory-name/'.repeat(5)}`
const LONG_PATH = `${LONG_DIR}with-a-file-name-well-past-the-hundred-byte-ustar-limit.conf`
const binary = randomBytes(4096)

const fixture = () =>
  buildImage({
    layers: [
      {
        createdBy: 'ADD rootfs /',
        files: [
          { path: 'etc', type: 'directory' },
          { path: 'etc/motd', content: 'hello from layer 0\n' },
          { path: 'etc/app.conf', content: 'version=1\n' },
          { path: 'opt/cache/old.bin', content: 'stale' },
          { path: 'usr/bin/tool', content: '#!/bin/sh\necho tool\n', mode: 0o755 },
          { path: 'usr/bin/tool-alias', type: 'hardlink', linkname: 'usr/bin/tool' },
          { path: 'usr/bin/sh', type: 'symlink', linkname: '/bin/busybox' },
          { path: LONG_PATH, content: 'long name content\n' },
          { path: 'data/blob.bin', content: binary },
        ],
      },
      {
        createdBy: 'COPY .env /app/.env',
        files: [{ path: 'app/.env', content: 'API_KEY=deleted-but-still-here\n', mode: 0o600 }, { path: 'etc/app.conf', content: 'version=2\n' }],
      },
      {
        createdBy: 'RUN rm /app/.env && rm -rf /opt/cache/*',
        files: [whiteout('app/.env'), opaqueDirectory('opt/cache'), { path: 'opt/cache/new.bin', content: 'fresh' }],
      },
    ],
  })

let reference: string
beforeAll(async () => {
  reference = await pushFixture(await fixture(), 'peek-cat')
})

const listing = async (layerIndex: number, format: 'text' | 'json' = 'text') => {
  const target = await targetOf(reference)
  const layers = await target.layers()
  const out = memoryWriter()
  await printLayerListings([layers[layerIndex]], [], out.write, format)
  return out.text()
}

describe('peek', () => {
  it('lists entries with mode, size, path and link targets', async () => {
    const text = await listing(0)
    expect(text).toMatch(/^drwxr-xr-x +0 B {2}etc\/$/m)
    expect(text).toMatch(/^-rw-r--r-- +19 B {2}etc\/motd$/m)
    expect(text).toMatch(/^-rwxr-xr-x +20 B {2}usr\/bin\/tool$/m)
    expect(text).toMatch(/^lrwxrwxrwx +0 B {2}usr\/bin\/sh -> \/bin\/busybox$/m)
    expect(text).toMatch(/^h[rwx-]{9} +0 B {2}usr\/bin\/tool-alias link to usr\/bin\/tool$/m)
    expect(text).toContain(` ${LONG_PATH}\n`)
    expect(text).toMatch(/^-rw-r--r-- +4\.0 KB {2}data\/blob\.bin$/m)
  })

  it('shows whiteouts and opaque directories as deletions, not as .wh. files', async () => {
    const text = await listing(2)
    expect(text).toMatch(/^\[deleted\] +app\/\.env$/m)
    expect(text).toMatch(/^\[opaque\] +opt\/cache\/$/m)
    expect(text).not.toContain('.wh.')
    expect(text).toContain('1 deleted, 1 opaque directory')
  })

  it('prints one JSON object per entry with --format json', async () => {
    const lines = (await listing(2, 'json')).trim().split('\n').map((line) => JSON.parse(line))
    expect(lines).toEqual([
      expect.objectContaining({ layer: 2, kind: 'deleted', path: 'app/.env' }),
      expect.objectContaining({ layer: 2, kind: 'opaque', path: 'opt/cache' }),
      expect.objectContaining({ layer: 2, kind: 'entry', path: 'opt/cache/new.bin', type: 'file', size: 5, mode: '-rw-r--r--', mode_octal: '0644' }),
    ])
  })
})

describe('cat', () => {
  const cat = async (path: string, layer?: number) => {
    const target = await targetOf(reference)
    const layers = await target.layers()
    const out = memoryWriter()
    const outcome = layer === undefined ? await catFromImage(layers, path, out.write) : await catFromLayer(layers[layer], path, out.write)
    return { outcome, text: out.text(), bytes: out.bytes() }
  }

  it('prints a file of the final filesystem from the topmost layer that has it', async () => {
    const { outcome, text } = await cat('/etc/app.conf')
    expect(text).toBe('version=2\n')
    expect(outcome).toMatchObject({ layer: 1, type: 'file', bytes: 10 })
  })

  it('prints the lower copy of an overwritten file with --layer', async () => {
    expect((await cat('etc/app.conf', 0)).text).toBe('version=1\n')
  })

  it('refuses a deleted file from the final filesystem, naming the layer that still has it', async () => {
    const failure = await cat('/app/.env').catch((error) => error)
    expect(isLayerleakError(failure, 'NOT_FOUND')).toBe(true)
    expect(failure.message).toMatch(/layer 2 deleted it/)
    expect(failure.message).toContain('--layer 1')
  })

  it('prints a deleted file from the layer that has it', async () => {
    expect((await cat('/app/.env', 1)).text).toBe('API_KEY=deleted-but-still-here\n')
  })

  it('treats files under an opaque directory as deleted, and shows what the upper layer put there', async () => {
    expect(isLayerleakError(await cat('/opt/cache/old.bin').catch((e) => e), 'NOT_FOUND')).toBe(true)
    expect((await cat('/opt/cache/new.bin')).text).toBe('fresh')
  })

  it('is binary-safe', async () => {
    expect(Buffer.from((await cat('/data/blob.bin')).bytes).equals(binary)).toBe(true)
  })

  it("gives a hard link its target's content", async () => {
    const { outcome, text } = await cat('/usr/bin/tool-alias')
    expect(text).toBe('#!/bin/sh\necho tool\n')
    expect(outcome).toMatchObject({ type: 'hardlink', hardlinkTarget: 'usr/bin/tool' })
  })

  it('prints where a symlink points instead of following it', async () => {
    const { outcome, text } = await cat('/usr/bin/sh')
    expect(text).toBe('/bin/busybox\n')
    expect(outcome).toMatchObject({ type: 'symlink', linkTarget: '/bin/busybox' })
  })

  it('reads files with long (PAX) names', async () => {
    expect((await cat(`/${LONG_PATH}`)).text).toBe('long name content\n')
  })

  it('says a directory has no content', async () => {
    const failure = await cat('/etc').catch((error) => error)
    expect(failure.message).toMatch(/is a directory/)
  })

  it('says when a path is in no layer', async () => {
    const failure = await cat('/nope').catch((error) => error)
    expect(isLayerleakError(failure, 'NOT_FOUND')).toBe(true)
    expect(failure.message).toContain('in no layer')
  })
})

describe('cat stops reading once the file is out', () => {
  let proxy: CountingProxy
  beforeAll(async () => {
    proxy = await startCountingProxy(inject('registryHost'))
  })
  afterAll(() => proxy.close())

  it('never downloads the bytes of the layer after the file', async () => {
    // 32 MiB of incompressible bytes after the small file, uncompressed tar so sizes are plain
    const image = await buildImage({
      layers: [{ compression: 'none', files: [{ path: 'app/config.yml', content: 'token: first\n' }, { path: 'app/bulk.bin', content: randomBytes(32 * 1024 * 1024) }] }],
    })
    const viaProxy = await pushFixture(image, 'cat-early', proxy.host)
    const target = await targetOf(viaProxy)
    const out = memoryWriter()
    await catFromImage(await target.layers(), '/app/config.yml', out.write)
    expect(out.text()).toBe('token: first\n')
    const layer = image.layers[0]
    const sent = proxy.bytesSentFor(layer.digest)
    expect(sent).toBeGreaterThan(0)
    expect(sent).toBeLessThan(layer.size / 4)
  })
})

describe('cat through a symlinked directory', () => {
  it('does not follow the link, and names the path it points to', async () => {
    const image = await buildImage({ layers: [{ files: [{ path: 'usr/lib/libx.so', content: 'elf' }, { path: 'lib', type: 'symlink', linkname: 'usr/lib' }] }] })
    const target = await targetOf(await layoutFixture(image))
    const failure = await catFromImage(await target.layers(), '/lib/libx.so', memoryWriter().write).catch((error) => error)
    expect(isLayerleakError(failure, 'NOT_FOUND')).toBe(true)
    expect(failure.message).toContain('/lib is a symlink to usr/lib in layer 0; try /usr/lib/libx.so')
  })
})

describe('an OCI layout on disk', () => {
  it('is read the same way as a registry', async () => {
    const target = await targetOf(await layoutFixture(await fixture()))
    const out = memoryWriter()
    await catFromImage(await target.layers(), 'etc/motd', out.write)
    expect(out.text()).toBe('hello from layer 0\n')
  })
})
