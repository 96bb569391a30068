import { describe, expect, it } from 'vitest'
import { isLayerleakError } from '../core/errors.ts'
import { apiBase, parseImageReference, withDefaultTag } from '../plugins/sources/image-reference.ts'

const HEX = 'a'.repeat(64)
const DIGEST = `sha256:${HEX}`

describe('parseImageReference', () => {
  it.each([
    ['alpine', { registry: 'docker.io', repository: 'library/alpine', tag: undefined, digest: undefined, bare: true }, 'docker.io/library/alpine'],
    ['alpine:3.20', { registry: 'docker.io', repository: 'library/alpine', tag: '3.20', bare: false }, 'docker.io/library/alpine:3.20'],
    [`library/alpine@${DIGEST}`, { registry: 'docker.io', repository: 'library/alpine', tag: undefined, digest: DIGEST }, `docker.io/library/alpine@${DIGEST}`],
    ['ghcr.io/org/app:tag', { registry: 'ghcr.io', repository: 'org/app', tag: 'tag' }, 'ghcr.io/org/app:tag'],
    ['quay.io/org/app', { registry: 'quay.io', repository: 'org/app', bare: true }, 'quay.io/org/app'],
    ['localhost:5000/team/app:1.0', { registry: 'localhost:5000', repository: 'team/app', tag: '1.0' }, 'localhost:5000/team/app:1.0'],
    ['127.0.0.1:5055/x/y:z', { registry: '127.0.0.1:5055', repository: 'x/y', tag: 'z' }, '127.0.0.1:5055/x/y:z'],
    ['docker.io/library/alpine', { registry: 'docker.io', repository: 'library/alpine' }, 'docker.io/library/alpine'],
    ['docker.io/alpine', { registry: 'docker.io', repository: 'library/alpine' }, 'docker.io/library/alpine'],
    ['index.docker.io/foo/bar', { registry: 'docker.io', repository: 'foo/bar' }, 'docker.io/foo/bar'],
    ['registry-1.docker.io/foo/bar:1', { registry: 'docker.io', repository: 'foo/bar', tag: '1' }, 'docker.io/foo/bar:1'],
    ['foo/bar', { registry: 'docker.io', repository: 'foo/bar' }, 'docker.io/foo/bar'],
    ['localhost/app', { registry: 'localhost', repository: 'app' }, 'localhost/app'],
    [`ghcr.io/org/app:v1.2@${DIGEST}`, { registry: 'ghcr.io', repository: 'org/app', tag: 'v1.2', digest: DIGEST, bare: false }, `ghcr.io/org/app:v1.2@${DIGEST}`],
    ['[::1]:5000/app:dev', { registry: '[::1]:5000', repository: 'app', tag: 'dev' }, '[::1]:5000/app:dev'],
    ['GHCR.io/org/a-b__c.d:x', { registry: 'ghcr.io', repository: 'org/a-b__c.d', tag: 'x' }, 'ghcr.io/org/a-b__c.d:x'],
  ])('%s', (text, fields, canonical) => {
    const reference = parseImageReference(text)
    const { registry, repository, tag, digest, bare } = reference
    expect({ registry, repository, tag, digest, bare }).toMatchObject(fields)
    expect(reference.toString()).toBe(canonical)
    expect(String(reference)).toBe(canonical)
  })

  it('fetches by digest when a tag and a digest are both given, and keeps the tag', () => {
    const reference = parseImageReference(`alpine:3.20@${DIGEST}`)
    expect(reference.fetchReference).toBe(DIGEST)
    expect(reference.tag).toBe('3.20')
  })

  it('asks for latest when neither tag nor digest is given', () => {
    const reference = withDefaultTag(parseImageReference('quay.io/org/app'))
    expect(reference.toString()).toBe('quay.io/org/app:latest')
    expect(reference.fetchReference).toBe('latest')
    expect(reference.bare).toBe(false)
  })

  it.each([
    ['', /empty/],
    ['Alpine', /must be lower case/],
    ['library/Alpine:3', /must be lower case/],
    ['ghcr.io/Org/app', /must be lower case/],
    ['alpine@sha256:abc', /not a digest/],
    [`alpine@sha256:${'A'.repeat(64)}`, /lower-case sha256/],
    [`alpine@md5:${'a'.repeat(32)}`, /lower-case sha256/],
    ['alpine latest', /whitespace/],
    [' alpine', /whitespace/],
    ['alpine:', /not a valid tag/],
    ['alpine:-x', /not a valid tag/],
    [`alpine:${'t'.repeat(129)}`, /not a valid tag/],
    ['ghcr.io/', /repository name is missing/],
    ['ghcr.io/org//app', /not a valid repository path component/],
    ['ghcr.io/org/-app', /not a valid repository path component/],
    ['ghcr.io/org/app_', /not a valid repository path component/],
    ['-bad.io/app', /not a valid registry host/],
    ['localhost:port/app', /not a valid tag|not a valid registry host/],
    [HEX, /image ID/],
    [`a@${DIGEST}@${DIGEST}`, /more than one/],
  ])('rejects %j', (text, message) => {
    let thrown: unknown
    try {
      parseImageReference(text)
    } catch (error) {
      thrown = error
    }
    expect(isLayerleakError(thrown, 'INVALID_REFERENCE')).toBe(true)
    expect((thrown as Error).message).toMatch(message)
  })
})

describe('apiBase', () => {
  it.each([
    ['docker.io', {}, 'https://registry-1.docker.io'],
    ['ghcr.io', {}, 'https://ghcr.io'],
    ['localhost:5000', {}, 'http://localhost:5000'],
    ['127.0.0.1:5055', {}, 'http://127.0.0.1:5055'],
    ['[::1]:5000', {}, 'http://[::1]:5000'],
    ['registry.internal:5000', { insecureRegistries: ['registry.internal:5000'] }, 'http://registry.internal:5000'],
    ['registry.internal:5000', { insecureRegistries: ['registry.internal'] }, 'http://registry.internal:5000'],
    ['registry.internal:5000', { insecureRegistries: ['other.internal'] }, 'https://registry.internal:5000'],
    ['docker.io', { registryBaseUrl: 'http://127.0.0.1:9999/' }, 'http://127.0.0.1:9999'],
    ['quay.io', { registryBaseUrl: 'http://127.0.0.1:9999' }, 'https://quay.io'],
  ])('%s %j -> %s', (registry, options, base) => {
    expect(apiBase(registry, options)).toBe(base)
  })
})
