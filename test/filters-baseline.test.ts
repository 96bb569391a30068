/**
 * Baselines: `layerleak baseline create --from result.json` records every finding of a scan, and
 * a later scan with `--baseline` (or the config's `baseline`) suppresses those as `in baseline`
 * while new secrets stay actionable, with plain and keyed (HMAC) fingerprints alike.
 */
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadDetection } from '../cli/detection-setup.ts'
import type { ScanResult } from '../core/result.ts'
import { scanReference } from '../core/scan.ts'
import { type Baseline, baselineFilter, createBaseline, readBaseline } from '../plugins/filters/baseline.ts'
import { type BuiltImage, buildImage } from '../plugins/sources/image-builder.ts'
import { ociLayoutSource } from '../plugins/sources/oci-layout.ts'
import { writeOciLayout } from '../plugins/sources/oci-layout-writer.ts'
import { layerleak } from './support/bun-cli.ts'
import { githubToken, slackBotToken, stripeLiveKey } from './support/fake-secrets.ts'

const layoutOf = async (image: BuiltImage): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'layerleak-baseline-'))
  await writeOciLayout(dir, image, { tag: 't' })
  return `oci:${dir}:t`
}

const scan = async (reference: string, options: { baseline?: Baseline; fingerprintKey?: string } = {}): Promise<ScanResult> => {
  const { detectors, filters } = await loadDetection({ config: {}, ...(options.fingerprintKey ? { fingerprintKey: options.fingerprintKey } : {}) })
  const key = options.fingerprintKey ? { fingerprintKey: options.fingerprintKey } : {}
  return scanReference({
    reference,
    sources: [ociLayoutSource()],
    detectors,
    filters: options.baseline ? [baselineFilter({ baseline: options.baseline, ...key }), ...filters] : filters,
    ...key,
  })
}

const twoSecrets = () => ({ old: githubToken(), fixture: slackBotToken(), added: stripeLiveKey() })

const imageWith = (secrets: ReturnType<typeof twoSecrets>, withNew: boolean) =>
  buildImage({
    layers: [
      {
        files: [
          { path: 'srv/app/.env', content: `GITHUB_TOKEN=${secrets.old}\n${withNew ? `STRIPE_SECRET_KEY=${secrets.added}\n` : ''}` },
          { path: 'srv/app/tests/fixtures/slack.json', content: `{"token": "${secrets.fixture}"}` },
        ],
      },
    ],
  })

describe('a baseline', () => {
  it('holds every finding of a findings file, actionable and suppressed, and no values', async () => {
    const secrets = twoSecrets()
    const result = await scan(await layoutOf(await imageWith(secrets, false)))
    const baseline = createBaseline(result, new Date('2025-01-02T03:04:05Z'))
    expect(baseline).toEqual({
      version: 1,
      created_at: '2025-01-02T03:04:05.000Z',
      fingerprints: [...result.findings, ...result.suppressed_findings]
        .map((finding) => ({ fingerprint: finding.fingerprint, detector_name: finding.detector_name, manifest_digest: finding.manifest_digest }))
        .sort((a, b) => a.fingerprint.localeCompare(b.fingerprint)),
    })
    expect(baseline.fingerprints).toHaveLength(2)
    expect(JSON.stringify(baseline)).not.toContain(secrets.old)
  })

  it('suppresses what it knows as `in baseline` and leaves new secrets actionable', async () => {
    const secrets = twoSecrets()
    const before = await scan(await layoutOf(await imageWith(secrets, false)))
    const after = await scan(await layoutOf(await imageWith(secrets, true)), { baseline: createBaseline(before) })
    expect(after.findings.map((finding) => finding.detector_name)).toEqual(['stripe-live-secret-key'])
    expect(after.suppressed_findings.map((finding) => [finding.detector_name, finding.disposition_reason]).sort()).toEqual([
      ['github-personal-access-token', 'in baseline'],
      ['slack-bot-token', 'in baseline'],
    ])
  })

  it('recognises keyed fingerprints only with the same key', async () => {
    const secrets = twoSecrets()
    const reference = await layoutOf(await imageWith(secrets, false))
    const baseline = createBaseline(await scan(reference, { fingerprintKey: 'team-key' }))
    expect((await scan(reference, { baseline, fingerprintKey: 'team-key' })).total_findings).toBe(0)
    expect((await scan(reference, { baseline })).total_findings).toBe(1)
    expect((await scan(reference, { baseline, fingerprintKey: 'other-key' })).total_findings).toBe(1)
  })

  it('refuses what is not a findings file, or not a baseline, naming the file', async () => {
    expect(() => createBaseline({ findings: [{ detector_name: 'x' }] }, new Date(), 'scan.json')).toThrow(/scan\.json is not a layerleak findings file: findings\.0\.fingerprint/)
    const dir = await mkdtemp(join(tmpdir(), 'layerleak-baseline-'))
    await writeFile(join(dir, 'broken.json'), '{"version": 1,')
    await expect(readBaseline(join(dir, 'broken.json'))).rejects.toThrow(/baseline .*broken\.json is not JSON/)
    await writeFile(join(dir, 'other.json'), '{"version": 2, "created_at": "", "fingerprints": []}')
    await expect(readBaseline(join(dir, 'other.json'))).rejects.toThrow(/other\.json is not a layerleak baseline: version/)
    await expect(readBaseline(join(dir, 'missing.json'))).rejects.toThrow(/missing\.json cannot be read/)
  })
})

describe('layerleak baseline create and scan --baseline', () => {
  it('accepts the findings of one scan so the next one fails only on what is new', async () => {
    const secrets = twoSecrets()
    const work = await mkdtemp(join(tmpdir(), 'layerleak-baseline-cli-'))
    const findingsDir = join(work, 'findings')
    const first = await layerleak(['scan', await layoutOf(await imageWith(secrets, false)), '--format', 'json', '-o', join(work, 'first.json'), '--findings-dir', findingsDir])
    expect(first.code, first.stderr).toBe(2)

    const created = await layerleak(['baseline', 'create', '--from', join(work, 'first.json'), '-o', join(work, 'baseline.json')])
    expect(created.code, created.stderr).toBe(0)
    expect(created.stderr).toContain(`baseline of 2 finding(s) written to ${join(work, 'baseline.json')}`)
    const baseline = JSON.parse(await readFile(join(work, 'baseline.json'), 'utf8')) as Baseline
    expect(baseline.fingerprints.map((entry) => entry.detector_name).sort()).toEqual(['github-personal-access-token', 'slack-bot-token'])

    const updated = await layoutOf(await imageWith(secrets, true))
    const withFlag = await layerleak(['scan', updated, '--format', 'json', '--baseline', join(work, 'baseline.json'), '--findings-dir', findingsDir])
    expect(withFlag.code, withFlag.stderr).toBe(2)
    const result = JSON.parse(withFlag.stdout) as ScanResult
    expect(result.findings.map((finding) => finding.detector_name)).toEqual(['stripe-live-secret-key'])
    expect(result.suppressed_findings.map((finding) => finding.disposition_reason)).toEqual(['in baseline', 'in baseline'])

    // the config's `baseline`, relative to the config file, does the same
    await mkdir(join(work, 'ci'))
    await writeFile(join(work, 'ci', 'layerleak.config.json'), JSON.stringify({ baseline: '../baseline.json' }))
    const unchanged = await layoutOf(await imageWith(secrets, false))
    const withConfig = await layerleak(['scan', unchanged, '--config', join(work, 'ci', 'layerleak.config.json'), '--findings-dir', findingsDir])
    expect(withConfig.code, withConfig.stderr).toBe(0)
  })

  it('prints the baseline on stdout without -o, and fails clearly on a file that is not a result', async () => {
    const work = await mkdtemp(join(tmpdir(), 'layerleak-baseline-cli-'))
    await writeFile(join(work, 'result.json'), JSON.stringify({ findings: [], suppressed_findings: [] }))
    const empty = await layerleak(['baseline', 'create', '--from', join(work, 'result.json')])
    expect(empty.code).toBe(0)
    expect(JSON.parse(empty.stdout)).toMatchObject({ version: 1, fingerprints: [] })
    await writeFile(join(work, 'sarif.json'), JSON.stringify({ version: '2.1.0', runs: [] }))
    const wrong = await layerleak(['baseline', 'create', '--from', join(work, 'sarif.json')])
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain('sarif.json is not a layerleak findings file: findings')
  })
})
