import { describe, expect, it } from 'vitest'
import { fakeAwsKeyPair, fakeGitHubToken } from '../cli/demo-image.ts'
import { buildImage, buildIndex, opaqueDirectory, whiteout } from '../plugins/sources/image-builder.ts'
import { occurrencesOf, scanImageFromLayout } from './support/scan.ts'

describe('scanning an image', () => {
  it('finds a secret that a later layer deleted, with its layer, path, line and build step', async () => {
    const token = fakeGitHubToken()
    const image = await buildImage({
      layers: [
        { files: [{ path: 'etc/os-release', content: 'ID=test\n' }], createdBy: 'ADD rootfs /' },
        { files: [{ path: 'app/.env', content: `PORT=8080\nGITHUB_TOKEN=${token}\n` }], createdBy: 'COPY .env /app/.env # buildkit' },
        { files: [whiteout('app/.env')], createdBy: 'RUN rm /app/.env # buildkit' },
      ],
    })
    const result = await scanImageFromLayout(image)
    const [occurrence] = occurrencesOf(result).filter((o) => o.file_path === 'app/.env')
    expect(occurrence).toMatchObject({
      source_type: 'file_deleted_layer',
      present_in_final_image: false,
      layer_index: 1,
      layer_digest: image.layers[1].digest,
      line_number: 2,
      build_step: 'COPY .env /app/.env # buildkit',
      disposition: 'actionable',
    })
    expect(result.status).toBe('completed')
  })

  it('says a secret is in the final image when no later layer touches it', async () => {
    const token = fakeGitHubToken()
    const image = await buildImage({ layers: [{ files: [{ path: 'srv/config.yml', content: `github:\n  token: ${token}\n` }] }, { files: [{ path: 'srv/other', content: 'x' }] }] })
    const [occurrence] = occurrencesOf(await scanImageFromLayout(image))
    expect(occurrence).toMatchObject({ source_type: 'file_final', present_in_final_image: true, file_path: 'srv/config.yml', line_number: 2 })
  })

  it('treats files under a directory made opaque by a later layer as deleted', async () => {
    const image = await buildImage({
      layers: [
        { files: [{ path: 'opt/secrets/gh.txt', content: fakeGitHubToken() }] },
        { files: [opaqueDirectory('opt/secrets'), { path: 'opt/secrets/readme', content: 'moved' }] },
      ],
    })
    const [occurrence] = occurrencesOf(await scanImageFromLayout(image))
    expect(occurrence).toMatchObject({ source_type: 'file_deleted_layer', present_in_final_image: false })
  })

  it('scans env, labels and history, naming the build step that set an env var', async () => {
    const [envToken, labelToken, historyToken] = [fakeGitHubToken(), fakeGitHubToken(), fakeGitHubToken()]
    const image = await buildImage({
      layers: [{ files: [{ path: 'hello', content: 'hi' }], createdBy: `RUN /bin/sh -c echo ${historyToken} > /dev/null` }],
      env: ['PATH=/usr/bin', `CI_TOKEN=${envToken}`],
      labels: { 'org.example.token': labelToken },
      stepsAfter: [`ENV CI_TOKEN=${envToken}`],
    })
    const occurrences = occurrencesOf(await scanImageFromLayout(image))
    expect(occurrences.find((o) => o.source_type === 'env')).toMatchObject({ key: 'CI_TOKEN', build_step: `ENV CI_TOKEN=${envToken}`, layer_index: -1 })
    expect(occurrences.find((o) => o.source_type === 'label')).toMatchObject({ key: 'org.example.token' })
    // the RUN step leaks its token; the ENV step shows up in history too, as Docker records it
    expect(occurrences.filter((o) => o.source_type === 'history').map((o) => o.build_step).sort()).toEqual(
      [`ENV CI_TOKEN=${envToken}`, `RUN /bin/sh -c echo ${historyToken} > /dev/null`].sort(),
    )
  })

  it('keeps a secret under a test path as suppressed, with the reason, out of the actionable count', async () => {
    const image = await buildImage({ layers: [{ files: [{ path: 'app/tests/fixtures/creds.json', content: `{"token": "${fakeGitHubToken()}"}` }] }] })
    const result = await scanImageFromLayout(image)
    expect(result.total_findings).toBe(0)
    expect(result.suppressed_findings_count).toBe(1)
    expect(result.suppressed_findings[0]).toMatchObject({ disposition: 'suppressed', disposition_reason: expect.stringContaining('tests/') })
  })

  it('merges one secret found in several places into one finding with every occurrence', async () => {
    const token = fakeGitHubToken()
    const image = await buildImage({
      layers: [{ files: [{ path: 'a/.env', content: `T=${token}` }, { path: 'b/.env', content: `T=${token}` }] }],
      env: [`T=${token}`],
    })
    const result = await scanImageFromLayout(image)
    expect(result.total_findings).toBe(1)
    expect(result.findings[0].occurrence_count).toBe(3)
    expect(result.findings[0].occurrences.map((o) => o.file_path || o.source_type).sort()).toEqual(['a/.env', 'b/.env', 'env'])
  })

  it('credits a hardlink with the content of its target', async () => {
    const image = await buildImage({
      layers: [{ files: [{ path: 'etc/token', content: fakeGitHubToken() }, { path: 'root/token-link', type: 'hardlink', linkname: 'etc/token' }] }],
    })
    const paths = occurrencesOf(await scanImageFromLayout(image)).map((o) => o.file_path)
    expect(paths.sort()).toEqual(['etc/token', 'root/token-link'])
  })

  it('finds a secret at the end of a file larger than the file window, on the right line', async () => {
    const filler = 'x'.repeat(99) + '\n'
    const content = `${filler.repeat(3000)}TOKEN=${fakeGitHubToken()}\n`
    const image = await buildImage({ layers: [{ files: [{ path: 'var/log/big.log', content }] }] })
    const [occurrence] = occurrencesOf(await scanImageFromLayout(image, { limits: { maxFileBytes: 64 * 1024 } }))
    expect(occurrence).toMatchObject({ line_number: 3001, match_start: 300_000 + 'TOKEN='.length })
  })

  it('streams a file too large to hold whole through the window, secrets and line numbers intact', async () => {
    // beyond 16 MiB a file is not read whole: it passes through one window buffer
    const filler = 'y'.repeat(99) + '\n'
    const content = `${filler.repeat(100_000)}A=${fakeGitHubToken()}\n${filler.repeat(80_000)}B=${fakeGitHubToken()}\n`
    const image = await buildImage({ layers: [{ files: [{ path: 'var/log/huge.log', content }] }] })
    const found = occurrencesOf(await scanImageFromLayout(image, { limits: { maxFileBytes: 1024 * 1024 } })).map((o) => [o.line_number, o.match_start])
    expect(found.sort((a, b) => a[0] - b[0])).toEqual([
      [100_001, content.indexOf('\nA=') + 3],
      [180_002, content.indexOf('\nB=') + 3],
    ])
  })

  it('stops at the entry limit, keeps what it found, and reports the scan as partial', async () => {
    const files = Array.from({ length: 20 }, (_, i) => ({ path: `f/${String(i).padStart(2, '0')}`, content: i === 0 ? fakeGitHubToken() : 'nothing' }))
    const result = await scanImageFromLayout(await buildImage({ layers: [{ files }] }), { limits: { maxLayerEntries: 5 } })
    expect(result.status).toBe('partial')
    expect(result.coverage.limits_hit).toEqual(['max_layer_entries'])
    expect(result.total_findings).toBe(1)
    expect(result.diagnostics.map((d) => d.code)).toContain('limit_exceeded')
  })

  it('never writes raw values unless asked to', async () => {
    const { id, secret } = fakeAwsKeyPair()
    const image = await buildImage({ layers: [{ files: [{ path: 'root/.aws/credentials', content: `[default]\naws_access_key_id = ${id}\naws_secret_access_key = ${secret}\n` }] }] })
    const redacted = JSON.stringify(await scanImageFromLayout(image))
    expect(redacted).not.toContain(id)
    expect(redacted).not.toContain(secret)
    const raw = await scanImageFromLayout(image, { persistRawSecrets: true })
    expect(JSON.stringify(raw)).toContain(id)
    expect(raw.findings.find((f) => f.detector_name.includes('aws'))?.occurrences[0].value).toBeDefined()
  })

  it('scans each platform of an index and skips attestation manifests', async () => {
    const token = fakeGitHubToken()
    const amd64 = await buildImage({ layers: [{ files: [{ path: 'app/key', content: token }] }] })
    const arm64 = await buildImage({ layers: [{ files: [{ path: 'app/key', content: token }, { path: 'app/arm', content: 'arm' }] }], platform: { os: 'linux', architecture: 'arm64' } })
    const result = await scanImageFromLayout(buildIndex([amd64, arm64], { attestations: true }))
    expect(result.manifest_count).toBe(2)
    expect(result.total_findings).toBe(2)
    expect(result.unique_fingerprints).toBe(1)
    expect(result.diagnostics.filter((d) => d.code === 'attestation_skipped')).toHaveLength(2)
    expect(occurrencesOf(result).map((o) => o.platform).sort()).toEqual(['linux/amd64', 'linux/arm64'])
  })
})
