/**
 * `layerleak detectors list` as users run it, and the README's Detectors section: its config and
 * gitleaks examples are taken from README.md itself, written to disk and used as they stand, so the
 * documentation cannot drift from what works.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { type DetectorListing, listingOf, renderDetectorTable } from '../cli/detectors.ts'
import { loadDetection } from '../cli/detection-setup.ts'
import { loadConfig } from '../cli/load-config.ts'
import type { ScanChunk } from '../core/contracts.ts'
import type { DetectorDefinition } from '../core/detector.ts'
import type { ScanResult } from '../core/result.ts'
import { builtinDetectors } from '../plugins/detectors/catalog.ts'
import { buildImage } from '../plugins/sources/image-builder.ts'
import { writeOciLayout } from '../plugins/sources/oci-layout-writer.ts'
import { layerleak, libraryEntry } from './support/bun-cli.ts'
import { randomBase62, randomFrom } from './support/fake-secrets.ts'

const readme = await readFile(resolve(import.meta.dirname, '../README.md'), 'utf8')

/** the code block of the README's Detectors section whose first line is `firstLine` */
const readmeSnippet = (firstLine: string): string => {
  const section = readme.slice(readme.indexOf('\n## Detectors\n'), readme.indexOf('\n## ', readme.indexOf('\n## Detectors\n') + 1))
  for (const [, body] of section.matchAll(/```[a-z]*\n([\s\S]*?)```/g)) if (body.startsWith(`${firstLine}\n`)) return body
  throw new Error(`README's Detectors section has no code block starting with ${firstLine}`)
}

describe('layerleak detectors list', () => {
  it('prints the catalog as JSON: an array with id, name, confidence, keywords, description and origin', async () => {
    const run = await layerleak(['detectors', 'list', '--format', 'json'])
    expect(run.code, run.stderr).toBe(0)
    const listing = JSON.parse(run.stdout) as DetectorListing[]
    expect(listing.length).toBe(builtinDetectors.length)
    expect(listing.length).toBeGreaterThanOrEqual(200)
    expect(listing.find((detector) => detector.id === 'aws-access-key-id')).toEqual({
      id: 'aws-access-key-id',
      name: 'AWS access key ID',
      confidence: 'high',
      keywords: ['akia', 'asia', 'abia', 'acca', 'a3t'],
      description: expect.stringContaining('AWS access key id'),
      origin: 'built-in',
      binary: true,
    })
  })

  it('prints a compact table in text mode, one line a detector, and the counts', () => {
    const three = builtinDetectors.filter((detector) => detector.id.startsWith('aws-') && !detector.fileFormat).slice(0, 3)
    const text = renderDetectorTable(listingOf(three, new Map(three.map((detector) => [detector.id, 'built-in']))))
    const lines = text.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^ID\s+CONFIDENCE\s+KEYWORDS\s+NAME$/)
    expect(lines[1]).toMatch(/^aws-access-key-id\s+high\s+akia,asia,abia,acca,a3t\s+AWS access key ID$/)
    expect(lines).toHaveLength(6)
    expect(lines[5]).toBe('3 detectors (3 built-in)')
  })

  it('refuses a format it does not know', async () => {
    const run = await layerleak(['detectors', 'list', '--format', 'yaml'])
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('--format must be text or json (got "yaml")')
  })
})

describe("the README's Detectors examples", () => {
  let work: string
  let configPath: string

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'layerleak-readme-'))
    configPath = join(work, 'layerleak.config.ts')
    // users import the published package; here it is this repository's entry point
    await writeFile(configPath, readmeSnippet('// layerleak.config.ts').replace(`from 'layerleak'`, `from '${libraryEntry}'`))
    await writeFile(join(work, 'gitleaks.toml'), readmeSnippet('# gitleaks.toml'))
  })

  it('define a detector whose examples and negatives hold', async () => {
    const { config } = await loadConfig(configPath)
    const detector = config.detectors?.find((candidate) => candidate.id === 'acme-deploy-key') as DetectorDefinition
    const chunk = (text: string): ScanChunk => ({ text, sourceType: 'file_final', path: 'srv/app/.env', key: '', binary: false })
    for (const example of detector.examples) expect([...detector.detect(chunk(example))], example).toHaveLength(1)
    for (const negative of detector.negatives) expect([...detector.detect(chunk(negative))], negative).toEqual([])
  })

  it('appear in detectors list next to the built-ins, with where they come from', async () => {
    const run = await layerleak(['detectors', 'list', '--format', 'json', '--config', configPath])
    expect(run.code, run.stderr).toBe(0)
    const listing = JSON.parse(run.stdout) as DetectorListing[]
    expect(listing).toHaveLength(builtinDetectors.length + 2)
    expect(listing.slice(-2).map((detector) => [detector.id, detector.origin, detector.keywords])).toEqual([
      ['acme-deploy-key', 'config', ['adk_']],
      ['acme-session-token', 'gitleaks:./gitleaks.toml', ['ast_']],
    ])
    const text = await layerleak(['detectors', 'list', '--config', configPath])
    expect(text.stdout).toContain(`${builtinDetectors.length + 2} detectors (${builtinDetectors.length} built-in, 1 config, 1 from gitleaks rules ./gitleaks.toml)`)
  })

  it('find their secrets in a scan, and the allowlist suppresses what it names', async () => {
    const deployKey = `adk_${randomBase62(40)}`
    const sessionToken = `ast_${randomFrom('abcdefghijklmnopqrstuvwxyz0123456789', 32)}`
    const docsKey = `adk_${randomBase62(40)}`
    const image = await buildImage({
      layers: [
        {
          files: [
            { path: 'srv/app/.env', content: `ACME_DEPLOY_KEY=${deployKey}\nACME_SESSION=${sessionToken}\n` },
            { path: 'opt/acme/sdk/docs/quickstart.txt', content: `export ACME_DEPLOY_KEY=${docsKey}\n` },
          ],
        },
      ],
    })
    await writeOciLayout(join(work, 'layout'), image, { tag: 't' })
    const run = await layerleak(['scan', `oci:${join(work, 'layout')}:t`, '--config', configPath, '--format', 'json', '--findings-dir', join(work, 'findings')])
    expect(run.code, run.stderr).toBe(2)
    const result = JSON.parse(run.stdout) as ScanResult
    expect(result.findings.map((finding) => finding.detector_name).sort()).toEqual(['acme-deploy-key', 'acme-session-token'])
    expect(result.suppressed_findings.map((finding) => [finding.detector_name, finding.disposition_reason])).toEqual([['acme-deploy-key', 'allowlisted (path)']])
  })

  it('load through the same setup a scan uses', async () => {
    const { config, path } = await loadConfig(configPath)
    const { detectors, origins } = await loadDetection({ config, ...(path ? { configPath: path } : {}) })
    expect(detectors.map((detector) => detector.id)).toContain('acme-session-token')
    expect(origins.get('acme-deploy-key')).toBe('config')
  })
})
