import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { fakeGitHubToken } from '../cli/demo-image.ts'
import type { ArchiveMember } from '../core/nested-archives.ts'
import { archiveLimitsOf, resolveSettings, settingsFromEnv } from '../core/settings.ts'
import { buildImage, buildTar, whiteout } from '../plugins/sources/image-builder.ts'
import { gzipReader, zipReader } from '../plugins/sources/nested-archives.ts'
import { occurrencesOf, scanImageFromLayout } from './support/scan.ts'
import { buildZip } from './support/zip-writer.ts'
import { zstdCompress } from './support/zstd.ts'

const oneLayer = (files: { path: string; content: string | Uint8Array }[]) => buildImage({ layers: [{ files }] })
const envFile = (token: string) => `# service settings\nPORT=8080\nGITHUB_TOKEN=${token}\n`

const readAll = async (members: Iterable<ArchiveMember> | AsyncIterable<ArchiveMember>) => {
  const found: { path: string; text?: string; skipped?: string }[] = []
  for await (const member of members) found.push({ path: member.path, ...(member.bytes ? { text: new TextDecoder().decode(member.bytes) } : {}), ...(member.skipped ? { skipped: member.skipped } : {}) })
  return found
}

describe('archives inside layers', () => {
  it('opens a jar inside a war and reports the secret by its member path and its line inside the member', async () => {
    const token = fakeGitHubToken()
    const jar = buildZip([
      { path: 'META-INF/MANIFEST.MF', content: 'Manifest-Version: 1.0\n' },
      { path: 'config/app.properties', content: envFile(token) },
    ])
    const war = buildZip([
      { path: 'WEB-INF/web.xml', content: '<web-app/>' },
      { path: 'WEB-INF/lib/b.jar', content: jar, method: 'stored' },
    ])
    const result = await scanImageFromLayout(await oneLayer([{ path: 'srv/a.war', content: war }]))
    expect(occurrencesOf(result)).toHaveLength(1)
    const [occurrence] = occurrencesOf(result)
    expect(occurrence).toMatchObject({
      file_path: 'srv/a.war!WEB-INF/lib/b.jar!config/app.properties',
      line_number: 3,
      source_type: 'file_final',
      present_in_final_image: true,
      disposition: 'actionable',
      source_location: expect.stringContaining('/srv/a.war!WEB-INF/lib/b.jar!config/app.properties:3'),
    })
    expect(result.diagnostics).toEqual([])
  })

  it('reads stored and deflated zip members, whatever the file is called', async () => {
    const [stored, deflated] = [fakeGitHubToken(), fakeGitHubToken()]
    const wheel = buildZip([
      { path: 'pkg/settings.py', content: `TOKEN = "${stored}"\n`, method: 'stored' },
      { path: 'pkg/deploy.cfg', content: `\n\ntoken = ${deflated}\n`, method: 'deflate' },
    ])
    const result = await scanImageFromLayout(await oneLayer([{ path: 'usr/lib/python3/pkg-1.0-py3-none-any.whl', content: wheel }]))
    const found = occurrencesOf(result).map((o) => [o.file_path, o.line_number])
    expect(found.sort()).toEqual([
      ['usr/lib/python3/pkg-1.0-py3-none-any.whl!pkg/deploy.cfg', 3],
      ['usr/lib/python3/pkg-1.0-py3-none-any.whl!pkg/settings.py', 1],
    ])
  })

  it('opens a tgz as the tar it wraps', async () => {
    const token = fakeGitHubToken()
    const tgz = gzipSync(await buildTar([{ path: 'package/.env', content: envFile(token) }, { path: 'package/index.js', content: 'module.exports = 1\n' }]))
    const result = await scanImageFromLayout(await oneLayer([{ path: 'root/.npm/bundle.tgz', content: tgz }]))
    expect(occurrencesOf(result).map((o) => o.file_path)).toEqual(['root/.npm/bundle.tgz!package/.env'])
  })

  it('opens an Alpine package (concatenated gzip tars named .apk) by its bytes, not its name', async () => {
    const token = fakeGitHubToken()
    const control = gzipSync(await buildTar([{ path: '.PKGINFO', content: 'pkgname = demo\n' }]))
    const data = gzipSync(await buildTar([{ path: 'etc/demo/demo.env', content: envFile(token) }]))
    const apk = new Uint8Array(Buffer.concat([control, data]))
    const result = await scanImageFromLayout(await oneLayer([{ path: 'var/cache/apk/demo-1.0-r0.apk', content: apk }]))
    expect(occurrencesOf(result).map((o) => o.file_path)).toEqual(['var/cache/apk/demo-1.0-r0.apk!etc/demo/demo.env'])
  })

  it('opens a gzip of a single file as that file, named without .gz', async () => {
    const token = fakeGitHubToken()
    const result = await scanImageFromLayout(await oneLayer([{ path: 'var/backups/app.env.gz', content: gzipSync(envFile(token)) }]))
    expect(occurrencesOf(result)).toMatchObject([{ file_path: 'var/backups/app.env.gz!app.env', line_number: 3 }])
  })

  it('opens a zstd file', async () => {
    const token = fakeGitHubToken()
    const result = await scanImageFromLayout(await oneLayer([{ path: 'data/settings.env.zst', content: zstdCompress(new TextEncoder().encode(envFile(token))) }]))
    expect(occurrencesOf(result)).toMatchObject([{ file_path: 'data/settings.env.zst!settings.env', line_number: 3 }])
  })

  it('reports a corrupt zip as unreadable, scans it as bytes, and goes on with the layer', async () => {
    const [inside, after] = [fakeGitHubToken(), fakeGitHubToken()]
    const zip = buildZip([{ path: 'creds.txt', content: `token=${inside}\n`, method: 'stored' }])
    const truncated = zip.subarray(0, zip.length - 30)
    const result = await scanImageFromLayout(await oneLayer([
      { path: 'opt/broken.zip', content: truncated },
      { path: 'opt/later.env', content: envFile(after) },
    ]))
    expect(result.diagnostics).toMatchObject([{ code: 'archive_unreadable', scope: 'file', subject: 'opt/broken.zip' }])
    expect(occurrencesOf(result).map((o) => o.file_path).sort()).toEqual(['opt/broken.zip', 'opt/later.env'])
    expect(result.status).toBe('completed')
  })

  it('stops opening archives at the depth bound and says so', async () => {
    const token = fakeGitHubToken()
    const jar = buildZip([{ path: 'app.properties', content: envFile(token) }])
    const war = buildZip([{ path: 'WEB-INF/lib/inner.jar', content: jar }])
    const image = await oneLayer([{ path: 'srv/outer.war', content: war }])
    const shallow = await scanImageFromLayout(image, { archiveLimits: { maxArchiveDepth: 1 } })
    expect(occurrencesOf(shallow)).toEqual([])
    expect(shallow.diagnostics).toMatchObject([{ code: 'archive_limit', subject: 'srv/outer.war!WEB-INF/lib/inner.jar', message: expect.stringContaining('maxArchiveDepth') }])
    const deep = await scanImageFromLayout(image, { archiveLimits: { maxArchiveDepth: 2 } })
    expect(occurrencesOf(deep).map((o) => o.file_path)).toEqual(['srv/outer.war!WEB-INF/lib/inner.jar!app.properties'])
  })

  it('reads no more members than maxArchiveEntries', async () => {
    const tokens = [fakeGitHubToken(), fakeGitHubToken(), fakeGitHubToken()]
    const zip = buildZip(tokens.map((token, i) => ({ path: `m${i}.env`, content: envFile(token) })))
    const result = await scanImageFromLayout(await oneLayer([{ path: 'opt/many.zip', content: zip }]), { archiveLimits: { maxArchiveEntries: 2 } })
    expect(occurrencesOf(result).map((o) => o.file_path).sort()).toEqual(['opt/many.zip!m0.env', 'opt/many.zip!m1.env'])
    expect(result.diagnostics).toMatchObject([{ code: 'archive_limit', subject: 'opt/many.zip', message: expect.stringContaining('maxArchiveEntries') }])
  })

  it('leaves an archive larger than maxArchiveBytes closed, with a diagnostic, and scans it as bytes', async () => {
    const zip = buildZip([{ path: 'big.env', content: `${'# filler\n'.repeat(50)}${envFile(fakeGitHubToken())}`, method: 'stored' }])
    const result = await scanImageFromLayout(await oneLayer([{ path: 'opt/big.zip', content: zip }]), { archiveLimits: { maxArchiveBytes: 256 } })
    // the member is stored, so its text is in the archive's bytes: found, under the archive's own path
    expect(occurrencesOf(result).map((o) => o.file_path)).toEqual(['opt/big.zip'])
    expect(result.diagnostics).toMatchObject([{ code: 'archive_limit', subject: 'opt/big.zip', message: expect.stringContaining('maxArchiveBytes') }])
  })

  it('skips an encrypted member with a diagnostic and reads the others', async () => {
    const token = fakeGitHubToken()
    const zip = buildZip([
      { path: 'locked.env', content: envFile(fakeGitHubToken()), encrypted: true },
      { path: 'open.env', content: envFile(token) },
    ])
    const result = await scanImageFromLayout(await oneLayer([{ path: 'opt/mixed.zip', content: zip }]))
    expect(occurrencesOf(result).map((o) => o.file_path)).toEqual(['opt/mixed.zip!open.env'])
    expect(result.diagnostics).toMatchObject([{ code: 'archive_member_skipped', subject: 'opt/mixed.zip!locked.env', message: expect.stringContaining('encrypted') }])
  })

  it('suppresses a secret under a test path inside an archive, with the reason', async () => {
    const jar = buildZip([{ path: 'src/test/resources/creds.properties', content: envFile(fakeGitHubToken()) }])
    const result = await scanImageFromLayout(await oneLayer([{ path: 'app/service.jar', content: jar }]))
    expect(result.total_findings).toBe(0)
    expect(result.suppressed_findings[0]).toMatchObject({ disposition: 'suppressed', disposition_reason: expect.stringContaining('test/') })
    expect(result.suppressed_findings[0].occurrences[0].file_path).toBe('app/service.jar!src/test/resources/creds.properties')
  })

  it('judges a member present or deleted by its outer file', async () => {
    const jar = buildZip([{ path: 'application.properties', content: envFile(fakeGitHubToken()) }])
    const image = await buildImage({
      layers: [{ files: [{ path: 'app/app.jar', content: jar }] }, { files: [whiteout('app/app.jar')], createdBy: 'RUN rm /app/app.jar' }],
    })
    const [occurrence] = occurrencesOf(await scanImageFromLayout(image))
    expect(occurrence).toMatchObject({ file_path: 'app/app.jar!application.properties', source_type: 'file_deleted_layer', present_in_final_image: false, layer_index: 0 })
  })

  it('credits a hardlink to an archive with its members, under the link name', async () => {
    const jar = buildZip([{ path: 'application.properties', content: envFile(fakeGitHubToken()) }])
    const image = await buildImage({ layers: [{ files: [{ path: 'app/app.jar', content: jar }, { path: 'app/current.jar', type: 'hardlink', linkname: 'app/app.jar' }] }] })
    const paths = occurrencesOf(await scanImageFromLayout(image)).map((o) => o.file_path)
    expect(paths.sort()).toEqual(['app/app.jar!application.properties', 'app/current.jar!application.properties'])
  })

  it('reads a credentials file inside an archive as its format', async () => {
    const auth = Buffer.from('ci-bot:Xk29fLq8ZtWm4Rv7').toString('base64')
    const tgz = gzipSync(await buildTar([{ path: 'home/ci/.docker/config.json', content: `{"auths": {"registry.acme-corp.io": {"auth": "${auth}"}}}` }]))
    const [occurrence] = occurrencesOf(await scanImageFromLayout(await oneLayer([{ path: 'backup/home.tgz', content: tgz }]), { persistRawSecrets: true }))
    expect(occurrence).toMatchObject({ detector_name: 'docker-config-auth', file_path: 'backup/home.tgz!home/ci/.docker/config.json', key: 'auth', value: 'Xk29fLq8ZtWm4Rv7' })
  })

  it('takes its bounds from LAYERLEAK_MAX_ARCHIVE_* settings', () => {
    const settings = resolveSettings(settingsFromEnv({ LAYERLEAK_MAX_ARCHIVE_BYTES: '8MiB', LAYERLEAK_MAX_ARCHIVE_ENTRIES: '500', LAYERLEAK_MAX_ARCHIVE_DEPTH: '0' }))
    expect(archiveLimitsOf(settings)).toEqual({ maxArchiveBytes: 8 * 1024 * 1024, maxArchiveEntries: 500, maxArchiveDepth: 0 })
    expect(archiveLimitsOf(resolveSettings({}))).toEqual({ maxArchiveBytes: 64 * 1024 * 1024, maxArchiveEntries: 10_000, maxArchiveDepth: 3 })
  })

  it('opens no archive at depth 0, scanning each as bytes', async () => {
    const zip = buildZip([{ path: 'inner.env', content: envFile(fakeGitHubToken()), method: 'stored' }])
    const result = await scanImageFromLayout(await oneLayer([{ path: 'opt/plain.zip', content: zip }]), { archiveLimits: { maxArchiveDepth: 0 } })
    expect(occurrencesOf(result).map((o) => o.file_path)).toEqual(['opt/plain.zip'])
    expect(result.diagnostics).toEqual([])
  })

  it('reports one secret in an archive and in a plain file as one finding with both occurrences', async () => {
    const token = fakeGitHubToken()
    const zip = buildZip([{ path: 'conf/.env', content: envFile(token) }])
    const result = await scanImageFromLayout(await oneLayer([{ path: 'opt/conf.zip', content: zip }, { path: 'opt/.env', content: envFile(token) }]))
    expect(result.total_findings).toBe(1)
    expect(result.findings[0].occurrences.map((o) => o.file_path).sort()).toEqual(['opt/.env', 'opt/conf.zip!conf/.env'])
  })
})

describe('the zip reader', () => {
  it('reads zip64 archives', async () => {
    const zip = buildZip([{ path: 'a.txt', content: 'alpha' }, { path: 'b.txt', content: 'beta', method: 'stored' }], { zip64: true })
    expect(await readAll(zipReader.members(zip, { name: 'x.zip', maxMemberBytes: 1024 }))).toEqual([
      { path: 'a.txt', text: 'alpha' },
      { path: 'b.txt', text: 'beta' },
    ])
  })

  it('allows for data prepended to the archive, as in self-running jars', async () => {
    const zip = buildZip([{ path: 'a.txt', content: 'alpha' }])
    const launcher = new TextEncoder().encode('#!/bin/sh\nexec java -jar "$0" "$@"\n')
    const runnable = new Uint8Array([...launcher, ...zip])
    expect(await readAll(zipReader.members(runnable, { name: 'app.jar', maxMemberBytes: 1024 }))).toEqual([{ path: 'a.txt', text: 'alpha' }])
  })

  it('skips a member that inflates past what a member may hold, without inflating it', async () => {
    const zip = buildZip([{ path: 'zeros.bin', content: new Uint8Array(1024 * 1024) }, { path: 'small.txt', content: 'ok' }])
    expect(await readAll(zipReader.members(zip, { name: 'bomb.zip', maxMemberBytes: 4096 }))).toEqual([
      { path: 'zeros.bin', skipped: expect.stringContaining('larger than 4096') },
      { path: 'small.txt', text: 'ok' },
    ])
  })
})

describe('the gzip reader', () => {
  it('skips a stream that decompresses past what a member may hold', async () => {
    const bomb = gzipSync(new Uint8Array(1024 * 1024))
    expect(await readAll(gzipReader.members(bomb, { name: 'zeros.gz', maxMemberBytes: 4096 }))).toEqual([{ path: 'zeros', skipped: expect.stringContaining('more than 4096') }])
  })
})
