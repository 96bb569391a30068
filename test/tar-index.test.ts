import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isLayerleakError } from '../core/errors.ts'
import { readFileRange } from '../plugins/sources/file-stream.ts'
import { buildTar } from '../plugins/sources/image-builder.ts'
import { indexTarFile, normaliseEntryPath } from '../plugins/sources/tar-index.ts'
import { concatBlocks, endOfArchive, gnuLongHeader, padded, tarHeader } from './support/tar-blocks.ts'

let dir: string
let counter = 0
const tarFile = async (bytes: Uint8Array) => {
  const file = join(dir, `archive-${counter++}.tar`)
  await writeFile(file, bytes)
  return file
}

const failureOf = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a failure')
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'layerleak-tar-index-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('indexing a tar file', () => {
  it('records where each member is, so its bytes can be read in place', async () => {
    const file = await tarFile(await buildTar([{ path: 'a.txt', content: 'alpha' }, { path: 'dir', type: 'directory' }, { path: 'dir/b.txt', content: 'bravo!' }]))
    const index = await indexTarFile(file)
    expect([...index.members.keys()]).toEqual(['a.txt', 'dir', 'dir/b.txt'])
    const member = index.find('dir/b.txt')!
    expect(member).toMatchObject({ type: 'file', size: 6 })
    expect(Buffer.from(await readFileRange(file, member.offset, member.size)).toString()).toBe('bravo!')
  })

  it('reads PAX long names', async () => {
    const long = `${'nested/'.repeat(30)}file.json`
    const file = await tarFile(await buildTar([{ path: long, content: '{}' }]))
    const member = (await indexTarFile(file)).find(long)!
    expect(Buffer.from(await readFileRange(file, member.offset, member.size)).toString()).toBe('{}')
  })

  it('reads GNU long names and long link targets', async () => {
    const long = `${'x'.repeat(120)}/layer.tar`
    const file = await tarFile(
      concatBlocks([
        ...gnuLongHeader('L', long),
        tarHeader({ name: long.slice(0, 100), type: '0', size: 4, gnu: true }),
        padded(Buffer.from('data')),
        ...gnuLongHeader('K', `../${long}`),
        tarHeader({ name: 'short/link', type: '2', linkname: 'truncated', gnu: true }),
        endOfArchive(),
      ]),
    )
    const index = await indexTarFile(file)
    expect(index.members.get('short/link')?.linkname).toBe(`../${long}`)
    const member = index.find('short/link')!
    expect(member.path).toBe(long)
    expect(Buffer.from(await readFileRange(file, member.offset, member.size)).toString()).toBe('data')
  })

  it('follows symlinks and hardlinks to the member holding the bytes', async () => {
    const file = await tarFile(
      await buildTar([
        { path: 'blobs/sha256/abc', content: 'blob' },
        { path: 'layer/layer.tar', type: 'symlink', linkname: '../blobs/sha256/abc' },
        { path: 'hard.tar', type: 'hardlink', linkname: 'layer/layer.tar' },
        { path: 'loop-a', type: 'symlink', linkname: 'loop-b' },
        { path: 'loop-b', type: 'symlink', linkname: 'loop-a' },
      ]),
    )
    const index = await indexTarFile(file)
    expect(index.find('layer/layer.tar')?.path).toBe('blobs/sha256/abc')
    expect(index.find('./hard.tar')?.path).toBe('blobs/sha256/abc')
    expect(index.find('loop-a')).toBeUndefined()
  })

  it('rejects a truncated archive and a corrupt header', async () => {
    const tar = await buildTar([{ path: 'a.txt', content: 'a'.repeat(5000) }])
    const truncated = await failureOf(indexTarFile(await tarFile(tar.subarray(0, 2048))))
    expect(isLayerleakError(truncated, 'INVALID_ARCHIVE')).toBe(true)
    expect((truncated as Error).message).toMatch(/truncated/)
    const corrupt = Buffer.from(tar)
    corrupt[0] = 'b'.charCodeAt(0)
    const bad = await failureOf(indexTarFile(await tarFile(corrupt)))
    expect(isLayerleakError(bad, 'INVALID_ARCHIVE')).toBe(true)
    expect((bad as Error).message).toMatch(/checksum/)
  })
})

describe('entry paths', () => {
  it('are normalised: no leading ./ or /, no trailing /, no empty or . segments', () => {
    expect(normaliseEntryPath('./etc/passwd')).toBe('etc/passwd')
    expect(normaliseEntryPath('/etc//ssl/./certs/')).toBe('etc/ssl/certs')
    expect(normaliseEntryPath('././@LongLink')).toBe('@LongLink')
    expect(normaliseEntryPath('./')).toBe('')
    expect(normaliseEntryPath('.wh..wh..opq')).toBe('.wh..wh..opq')
    expect(normaliseEntryPath('usr/lib/..hidden')).toBe('usr/lib/..hidden')
  })
})
