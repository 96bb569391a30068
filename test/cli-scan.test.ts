import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, inject, it } from 'vitest'
import { fakeAwsKeyPair, fakeGitHubToken } from '../cli/demo-image.ts'
import type { ScanResult } from '../core/result.ts'
import { type BuiltImage, buildImage, whiteout } from '../plugins/sources/image-builder.ts'
import { pushImage, uniqueRepository } from './support/push.ts'
import { type Runtime, runCli } from './support/run-cli.ts'

/** A few MB of ordinary files, so the secrets are needles in a real haystack. */
const haystack = (dir: string, count: number) =>
  Array.from({ length: count }, (_, i) => ({
    path: `${dir}/file-${i}.txt`,
    content: Array.from({ length: 200 }, (_, line) => `line ${line} of file ${i}: the quick brown fox ${Math.random().toString(36)}`).join('\n'),
  }))

describe('layerleak scan against a registry, under every runtime', () => {
  const aws = fakeAwsKeyPair()
  const token = fakeGitHubToken()
  let image: BuiltImage
  let reference: string

  beforeAll(async () => {
    image = await buildImage({
      layers: [
        { createdBy: 'ADD rootfs.tar /', files: haystack('usr/share/doc', 150) },
        {
          createdBy: 'COPY config /etc/app # buildkit',
          files: [
            ...haystack('etc/app/static', 50),
            { path: 'etc/app/config.yml', content: `app:\n  name: demo\n  port: 8080\n\naws:\n  region: eu-west-1\n  access_key_id: ${aws.id}\n  secret_access_key: ${aws.secret}\n` },
          ],
        },
        { createdBy: 'RUN /bin/sh -c make install # buildkit', files: [{ path: 'usr/local/bin/tool', content: new Uint8Array(512 * 1024).map((_, i) => (i * 7) % 251) }] },
        {
          createdBy: 'RUN /bin/sh -c rm /etc/app/config.yml && echo done # buildkit',
          files: [whiteout('etc/app/config.yml'), { path: 'home/app/.git-credentials', content: `https://ci:${token}@github.com\n` }],
        },
      ],
    })
    const host = inject('registryHost')
    const repository = uniqueRepository('cli-scan')
    await pushImage(host, repository, image, ['1.0'])
    reference = `${host}/${repository}:1.0`
  })

  for (const runtime of ['node', 'bun', 'deno'] as Runtime[]) {
    it(`reports every finding with its layer, path, line, build step and final-image flag (${runtime})`, async () => {
      const findingsDir = await mkdtemp(join(tmpdir(), 'layerleak-findings-'))
      const run = await runCli(runtime, ['scan', reference, '--format', 'json', '--findings-dir', findingsDir])
      expect(run.code, run.stderr).toBe(2)
      const result = JSON.parse(run.stdout) as ScanResult
      expect(result).toMatchObject({ status: 'completed', requested_reference: reference, manifest_count: 1 })
      expect(result.coverage.files_scanned).toBeGreaterThan(200)

      const occurrences = result.findings.flatMap((finding) => finding.occurrences)
      const keyId = occurrences.find((o) => o.detector_name === 'aws-access-key-id')
      expect(keyId).toMatchObject({
        file_path: 'etc/app/config.yml',
        line_number: 7,
        layer_index: 1,
        layer_digest: image.layers[1].digest,
        build_step: 'COPY config /etc/app # buildkit',
        source_type: 'file_deleted_layer',
        present_in_final_image: false,
      })
      const github = occurrences.find((o) => o.file_path === 'home/app/.git-credentials')
      expect(github).toMatchObject({ line_number: 1, layer_index: 3, layer_digest: image.layers[3].digest, source_type: 'file_final', present_in_final_image: true })
      expect(run.stdout).not.toContain(aws.secret)
      expect(run.stdout).not.toContain(token)

      const [file] = await readdir(findingsDir)
      expect((await stat(join(findingsDir, file))).mode & 0o777).toBe(0o600)
      expect(JSON.parse(await readFile(join(findingsDir, file), 'utf8')).total_findings).toBe(result.total_findings)
    })
  }

  for (const runtime of ['node', 'bun', 'deno'] as Runtime[]) {
    it(`scans files on worker threads when asked, with the same findings (${runtime})`, async () => {
      const findingsDir = await mkdtemp(join(tmpdir(), 'layerleak-findings-'))
      const args = ['scan', reference, '--format', 'json', '--findings-dir', findingsDir]
      const [onWorkers, here] = await Promise.all([runCli(runtime, [...args, '--verbose'], { env: { LAYERLEAK_SCAN_WORKERS: '1' } }), runCli(runtime, args, { env: { LAYERLEAK_SCAN_WORKERS: '0' } })])
      expect(onWorkers.code, onWorkers.stderr).toBe(2)
      // files that came before the worker was ready were scanned on the main thread (test/file-scan-pool.test.ts
      // proves a worker starts under each runtime)
      const counts = /scan workers: (\d+) files scanned on 1 worker thread, (\d+) on the main thread/.exec(onWorkers.stderr)
      expect(counts, onWorkers.stderr).not.toBeNull()
      expect(Number(counts?.[1]) + Number(counts?.[2])).toBe((JSON.parse(onWorkers.stdout) as ScanResult).coverage.files_scanned)
      const fingerprints = (run: { stdout: string }) => (JSON.parse(run.stdout) as ScanResult).findings.map((finding) => [finding.fingerprint, finding.occurrences.map((o) => `${o.file_path}:${o.line_number}`)])
      expect(fingerprints(onWorkers)).toEqual(fingerprints(here))
    })
  }

  it('prints a readable summary with the deleted-file explanation', async () => {
    const run = await runCli('node', ['scan', reference, '--findings-dir', await mkdtemp(join(tmpdir(), 'f-'))])
    expect(run.code).toBe(2)
    expect(run.stdout).toContain('etc/app/config.yml:7')
    expect(run.stdout).toContain('deleted or replaced by a later layer')
    expect(run.stdout).toContain('step: COPY config /etc/app')
  })

  it('exits 0 with --fail-on never and 1 with a clear message for a missing image', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'f-'))
    expect((await runCli('node', ['scan', reference, '--fail-on', 'never', '--findings-dir', dir])).code).toBe(0)
    const missing = await runCli('node', ['scan', `${reference.replace(/:1\.0$/, '')}:nope`, '--findings-dir', dir])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/not found|unknown/i)
  })

  it('refuses a malformed reference with exit 1 and one line', async () => {
    const run = await runCli('node', ['scan', 'UPPER/Case:tag'])
    expect(run.code).toBe(1)
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
  })
})
