import { Buffer } from 'node:buffer'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { fakeGitHubToken } from '../cli/demo-image.ts'
import { findEncodedBlobs, MAX_BLOBS_PER_FILE } from '../core/encoded-content.ts'
import { createPrefilter } from '../core/prefilter.ts'
import { TextScanner } from '../core/text-scanner.ts'
import { builtinDetectors } from '../plugins/detectors/catalog.ts'
import { buildImage } from '../plugins/sources/image-builder.ts'
import { occurrencesOf, scanImageFromLayout } from './support/scan.ts'

const bytes = (text: string) => new TextEncoder().encode(text)
const base64 = (text: string) => Buffer.from(text).toString('base64')
const base64url = (text: string) => Buffer.from(text).toString('base64url')
const scanner = new TextScanner(builtinDetectors, createPrefilter(builtinDetectors))
const at = { sourceType: 'file_final' as const, path: 'k8s/secret.yaml', key: '' }
const githubFound = (text: string) => scanner.scanBytes(bytes(text), at).filter((match) => match.detectorId.startsWith('github'))

describe('base64 in text files', () => {
  it('finds a token hidden in a Kubernetes Secret, on the line of its base64, under its key, with the decoded value', () => {
    const token = fakeGitHubToken()
    const encoded = base64(token)
    const text = `apiVersion: v1\nkind: Secret\ndata:\n  GITHUB_TOKEN: ${encoded}\n`
    const [match] = githubFound(text)
    const start = text.indexOf(encoded)
    expect(match).toMatchObject({ value: token, key: 'GITHUB_TOKEN', lineNumber: 4, start, end: start + encoded.length, line: `  GITHUB_TOKEN: ${encoded}` })
    expect(match.line.slice(match.lineStart, match.lineEnd)).toBe(encoded)
  })

  it('reads base64url, with or without padding', () => {
    for (const encode of [base64url, base64, (text: string) => base64(text).replace(/=+$/, '')]) {
      const token = fakeGitHubToken()
      expect(githubFound(`value: "${encode(`token=${token}`)}"`).map((match) => match.value)).toEqual([token])
    }
  })

  it('scans what base64 decodes to once, not what that decodes to again', () => {
    const token = fakeGitHubToken()
    expect(githubFound(`x=${base64(`y=${base64(`token ${token}`)}`)}`)).toEqual([])
  })

  it('leaves a run alone that a detector matched as it stands', () => {
    const token = fakeGitHubToken()
    // a GitHub token is itself a base64 run; it is one finding, not one plus what it "decodes" to
    expect(scanner.scanBytes(bytes(`GITHUB_TOKEN=${token}`), at).map((match) => match.value)).toEqual([token])
  })

  it('does not decode base64 in binary files', () => {
    const binary = new Uint8Array([0, 1, 2, ...bytes(` ${base64(`token ${fakeGitHubToken()}`)} `)])
    expect(scanner.scanBytes(binary, at)).toEqual([])
  })

  it('places a blob in a later window of a large file at its line and offset in the whole file', () => {
    const token = fakeGitHubToken()
    const [match] = scanner.scanBytes(bytes(`a\nb\nkey: ${base64(`token ${token}`)}\n`), at, { baseOffset: 5000, baseLine: 100, skipBefore: 0 })
    expect(match).toMatchObject({ value: token, lineNumber: 102, start: 5000 + 'a\nb\nkey: '.length, key: 'key' })
  })

  it('decodes base64 in config values (env, labels) too', () => {
    const token = fakeGitHubToken()
    const [match] = scanner.scanText(base64(`export GH=${token}`), { sourceType: 'env', path: '', key: 'BOOTSTRAP_B64' })
    expect(match).toMatchObject({ value: token, key: 'BOOTSTRAP_B64', lineNumber: 1 })
  })
})

describe('finding base64 runs', () => {
  const runs = (text: string) => findEncodedBlobs(bytes(text)).map((blob) => blob.decoded)

  it('takes runs of 32 characters or more that decode to text', () => {
    expect(runs(`a: ${base64('exactly twenty-four char')}`)).toEqual(['exactly twenty-four char'])
    expect(runs(`a: ${base64('twenty-three characters')}`)).toEqual([])
  })

  it('ignores identifiers, hex digests, paths and runs that decode to binary', () => {
    const text = [
      'const getSourceTextOfNodeFromSourceFile = GreaterThanGreaterThanGreaterThanEqualsToken',
      'sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      'path: /usr/lib/python3/dist-packages/some_module-name/__init__.py',
      `cert: ${randomBytes(48).toString('base64')}`,
      'integrity: sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUR1Rn7wsQkfHxGT9g==',
    ].join('\n')
    expect(runs(text)).toEqual([])
  })

  it(`decodes at most ${MAX_BLOBS_PER_FILE} runs in one file`, () => {
    const text = Array.from({ length: MAX_BLOBS_PER_FILE + 10 }, (_, i) => `k${i}: ${base64(`line number ${String(i).padStart(4, '0')} of the file`)}`).join('\n')
    expect(runs(text)).toHaveLength(MAX_BLOBS_PER_FILE)
  })
})

describe('base64 through the pipeline', () => {
  it('gives a secret found only inside base64 the fingerprint of the secret itself, and a redacted snippet', async () => {
    const token = fakeGitHubToken()
    const encoded = base64(token)
    const image = await buildImage({
      layers: [{ files: [{ path: 'deploy/secret.yaml', content: `kind: Secret\ndata:\n  token: ${encoded}\n` }, { path: 'app/.env', content: `GITHUB_TOKEN=${token}\n` }] }],
    })
    const result = await scanImageFromLayout(image)
    expect(result.total_findings).toBe(1)
    const occurrences = occurrencesOf(result)
    expect(occurrences.map((o) => [o.file_path, o.line_number, o.key]).sort()).toEqual([
      ['app/.env', 1, ''],
      ['deploy/secret.yaml', 3, 'token'],
    ])
    const encodedOccurrence = occurrences.find((o) => o.file_path === 'deploy/secret.yaml')
    expect(encodedOccurrence?.context_snippet).not.toContain(encoded.slice(0, 12))
    expect(JSON.stringify(result)).not.toContain(encoded)
  })
})
