/**
 * The file-format detectors: every example (text alone, and files named as the format names them)
 * must match next to one of its keywords, every negative must not, and through the whole catalog
 * each one keeps its value against the specific and generic rules that match the same span.
 */
import { Buffer } from 'node:buffer'
import { describe, expect, it } from 'vitest'
import type { ScanChunk } from '../core/contracts.ts'
import { createPrefilter } from '../core/prefilter.ts'
import { TextScanner } from '../core/text-scanner.ts'
import { builtinDetectors } from '../plugins/detectors/catalog.ts'
import type { FileFormatDetector } from '../plugins/detectors/file-format.ts'
import { structuredFileDetectors } from '../plugins/detectors/structured-files.ts'

const chunk = (text: string, path = 'srv/app/settings.conf'): ScanChunk => ({ text, sourceType: 'file_final', path, key: '', binary: false })
const detectorById = (id: string): FileFormatDetector => {
  const detector = structuredFileDetectors.find((candidate) => candidate.id === id)
  if (!detector) throw new Error(`no detector ${id}`)
  return detector
}
const matchesOf = (id: string, text: string, path?: string) => [...detectorById(id).detect(chunk(text, path))]
const catalog = new TextScanner(builtinDetectors, createPrefilter(builtinDetectors))
const scanFile = (path: string, text: string) => catalog.scanText(text, { sourceType: 'file_final', path, key: '' })
const base64 = (text: string) => Buffer.from(text).toString('base64')

describe('the file-format catalog', () => {
  it('has unique kebab-case ids, not shared with any other detector', () => {
    const ids = structuredFileDetectors.map((detector) => detector.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const id of ids) expect(id).toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/)
    const all = builtinDetectors.map((detector) => detector.id)
    expect(all.filter((id, i) => all.indexOf(id) !== i)).toEqual([])
  })

  it('comes first in the built-in catalog and marks its detectors as file formats', () => {
    expect(builtinDetectors.slice(0, structuredFileDetectors.length)).toEqual(structuredFileDetectors)
    for (const detector of structuredFileDetectors) {
      expect(detector.fileFormat).toBe(true)
      // its own files it reads whole, whatever it does elsewhere
      for (const { path } of detector.fileExamples) expect(typeof detector.context === 'function' ? detector.context(path) : detector.context, path).toBe('file')
    }
  })

  it('reads files of other names around its keywords only, and still finds what a script writes into its file deep inside one', () => {
    const netrc = structuredFileDetectors.find((detector) => detector.id === 'netrc-password')
    expect(typeof netrc?.context === 'function' && netrc.context('app/dist/bundle.js')).toEqual({ before: expect.any(Number), after: expect.any(Number) })
    const filler = 'echo building the thing with a long line of output that repeats\n'.repeat(4000)
    const script = `#!/bin/sh\n${filler}cat > /root/.netrc <<'EOF'\nmachine git.acme-corp.io login ci password Tq9xL2mVr7KzW4pN\nEOF\n${filler}`
    const found = scanFile('usr/local/bin/build.sh', script).filter((match) => match.detectorId === 'netrc-password')
    expect(found.map((match) => [match.value, match.lineNumber])).toEqual([['Tq9xL2mVr7KzW4pN', 4003]])
  })

  describe.each(structuredFileDetectors.map((detector) => [detector.id, detector] as const))('%s', (_id, detector) => {
    it('has a name, a description, lower-case keywords, examples and negatives', () => {
      expect(detector.name).not.toBe('')
      expect(detector.description.length).toBeGreaterThan(20)
      expect(detector.keywords.length).toBeGreaterThan(0)
      for (const keyword of detector.keywords) expect(keyword).toBe(keyword.toLowerCase())
      expect(detector.examples.length).toBeGreaterThan(0)
      expect(detector.negatives.length).toBeGreaterThan(0)
      expect(detector.fileExamples.length).toBeGreaterThan(0)
    })

    it('finds a secret in every example, and every example holds one of its keywords', () => {
      for (const example of detector.examples) {
        expect([...detector.detect(chunk(example))].length, example).toBeGreaterThan(0)
        expect(detector.keywords.some((keyword) => example.toLowerCase().includes(keyword)), example).toBe(true)
      }
    })

    it('finds nothing in its negatives', () => {
      for (const negative of detector.negatives) expect([...detector.detect(chunk(negative))], negative).toEqual([])
    })

    it('finds a secret in every example file through the prefilter, and nothing in its negative files', () => {
      const alone = new TextScanner([detector], createPrefilter([detector]))
      for (const { path, text } of detector.fileExamples) {
        expect(alone.scanText(text, { sourceType: 'file_final', path, key: '' }).length, path).toBeGreaterThan(0)
      }
      for (const { path, text } of detector.fileNegatives) expect(alone.scanText(text, { sourceType: 'file_final', path, key: '' }), path).toEqual([])
    })

    it('keeps every value of its examples against the whole catalog (a format detector may name one it also knows)', () => {
      for (const example of [...detector.examples.map((text) => ({ path: 'srv/app/settings.conf', text })), ...detector.fileExamples]) {
        const own = [...detector.detect(chunk(example.text, example.path))]
        const reported = new Set(scanFile(example.path, example.text).map((match) => match.value))
        expect(own.map((match) => match.value).filter((value) => !reported.has(value)), example.text.slice(0, 60)).toEqual([])
      }
    })
  })
})

describe('AWS credentials files', () => {
  it('report the key id and the secret of a profile, each under its key, named by the AWS detectors', () => {
    const found = scanFile('root/.aws/credentials', '[default]\naws_access_key_id = AKIAZ4TQHL2MVXW7RPNE\naws_secret_access_key = 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\n')
    expect(found.map((match) => [match.detectorId, match.key, match.value, match.lineNumber])).toEqual([
      ['aws-access-key-id', 'aws_access_key_id', 'AKIAZ4TQHL2MVXW7RPNE', 2],
      ['aws-secret-access-key', 'aws_secret_access_key', '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', 3],
    ])
  })

  it('report a value no pattern detector knows under its own name', () => {
    const found = scanFile('root/.aws/credentials', '[minio]\naws_access_key_id = minio-admin\naws_secret_access_key = Zq8rT2mK9vLw4x\n')
    expect(found.map((match) => [match.detectorId, match.key])).toEqual([['aws-credentials-file', 'aws_secret_access_key']])
  })

  it('grade a canary key id low and a temporary one medium', () => {
    // TruffleHog's canary fixture key: account 052310077262 belongs to canarytokens.org
    expect(matchesOf('aws-credentials-file', '[default]\naws_access_key_id = AKIASP2TPHJSQH3FJRUX\n', 'root/.aws/credentials')[0]?.confidence).toBe('low')
    expect(matchesOf('aws-credentials-file', '[tmp]\naws_access_key_id = ASIAY34FZKBOKMUTVV7A\n', 'root/.aws/credentials')[0]?.confidence).toBe('medium')
    expect(matchesOf('aws-credentials-file', '[prod]\naws_access_key_id = AKIAZ4TQHL2MVXW7RPNE\n', 'root/.aws/credentials')[0]?.confidence).toBe('high')
  })
})

describe('Docker config.json', () => {
  it('decodes an auth to user:secret and reports the secret at the auth', () => {
    const auth = base64('ci-bot:Xk29fLq8ZtWm4Rv7')
    const text = `{"auths": {"registry.acme-corp.io": {"auth": "${auth}"}}}`
    const [match] = scanFile('root/.docker/config.json', text)
    expect(match).toMatchObject({ detectorId: 'docker-config-auth', key: 'auth', value: 'Xk29fLq8ZtWm4Rv7', start: text.indexOf(auth), end: text.indexOf(auth) + auth.length })
  })

  it('is found where it is decoded from a Kubernetes pull secret', () => {
    const config = `{"auths":{"ghcr.io":{"auth":"${base64('octo:W9V1FqVbX8RjoVaeow32DayRbGk')}"}}}`
    const found = scanFile('k8s/pull-secret.yaml', `kind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: ${base64(config)}\n`)
    expect(found.map((match) => [match.detectorId, match.value, match.lineNumber])).toEqual([['docker-config-auth', 'W9V1FqVbX8RjoVaeow32DayRbGk', 4]])
  })
})

describe('.npmrc', () => {
  it('decodes _auth and _password and keeps the registry in the key', () => {
    const text = `//nexus.acme-corp.io/:_auth=${base64('deploy:Tq8vK2mXr4Lp9Zs6')}\n//npm.acme-corp.io/:_password=${base64('W9V1FqVbX8Rjo')}\n`
    expect(scanFile('home/node/.npmrc', text).map((match) => [match.detectorId, match.key, match.value])).toEqual([
      ['npmrc-credentials', '//nexus.acme-corp.io/:_auth', 'Tq8vK2mXr4Lp9Zs6'],
      ['npmrc-credentials', '//npm.acme-corp.io/:_password', 'W9V1FqVbX8Rjo'],
    ])
  })

  it('keeps the registry-scoped key of a token the npm detector names', () => {
    const found = scanFile('home/node/.npmrc', '//registry.npmjs.org/:_authToken=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\n')
    expect(found.map((match) => [match.detectorId, match.key])).toEqual([['npm-access-token', '//registry.npmjs.org/:_authToken']])
  })
})

describe('login files', () => {
  it('read .netrc entries over several lines and skip macro bodies and anonymous logins', () => {
    const text = 'machine ftp.gnu.org login anonymous password me@example.com\nmachine artifacts.acme-corp.io\n  login deploy\n  password Tq9xL2mVr7KzW4pN\nmacdef init\npassword inmacro123\n\n'
    const found = scanFile('root/.netrc', text).filter((match) => match.detectorId === 'netrc-password')
    expect(found.map((match) => [match.value, match.lineNumber])).toEqual([['Tq9xL2mVr7KzW4pN', 4]])
  })

  it('win a .netrc password the generic rule also matches', () => {
    const found = scanFile('root/.netrc', 'machine git.acme-corp.io login deploy password Tq9xL2mVr7KzW4pN\n')
    expect(found.map((match) => [match.detectorId, match.key, match.value])).toEqual([['netrc-password', 'password', 'Tq9xL2mVr7KzW4pN']])
  })

  it('find a .netrc a Dockerfile step writes, in the image history', () => {
    const step = 'RUN /bin/sh -c echo "machine github.com login x password Tq9xL2mVr7KzW4pN" > /root/.netrc && make'
    const found = catalog.scanText(step, { sourceType: 'history', path: '', key: '' })
    expect(found.map((match) => [match.detectorId, match.value])).toEqual([['netrc-password', 'Tq9xL2mVr7KzW4pN']])
  })

  it('decode git credential URLs and .pgpass escapes', () => {
    expect(scanFile('root/.git-credentials', 'https://octocat:Tq9xL2mVr7K%40zW4pN@github.com\n').map((match) => match.value)).toEqual(['Tq9xL2mVr7K@zW4pN'])
    expect(scanFile('root/.pgpass', 'db:5432:*:app:Tq9x\\:L2mVr7\\\\KzW4\n').map((match) => [match.detectorId, match.value])).toEqual([['pgpass-password', 'Tq9x:L2mVr7\\KzW4']])
  })

  it('grade password hashes low, name the user, and skip locked accounts', () => {
    const shadow = 'root:$6$AStkn0hj$6Kiq0h/A/kDKwSndHeTe5fM4v5wED6dXmWsCeORfhe66d6iTCdnbOxymhmBsjbO5oFs2773amZo/OfoXLtQLd0:19500:0:99999:7:::\nbin:*:19500::::::\nops:!$6$AStkn0hj$6Kiq0h/A/kDKwSndHeTe5fM4v5wED6dXmWsCeORfhe66d6iTCdnbOxymhmBsjbO5oFs2773amZo/OfoXLtQLd0:19500::::::\n'
    expect(scanFile('etc/shadow', shadow).map((match) => [match.detectorId, match.key, match.confidence])).toEqual([['shadow-password-hash', 'root', 'low']])
    expect(scanFile('etc/nginx/.htpasswd', 'admin:$apr1$zrg5/R6X$ogQ70qzrIfNJfB4j9CGjtw\n').map((match) => [match.detectorId, match.key, match.confidence])).toEqual([['htpasswd-hash', 'admin', 'low']])
  })
})

describe('kubeconfig', () => {
  it('reports a client key decoded to its PEM, and a bearer token', () => {
    const kubeconfig = detectorById('kubeconfig-credential').examples[0]
    const found = scanFile('root/.kube/config', kubeconfig)
    expect(found.map((match) => [match.detectorId, match.key])).toEqual([
      ['kubeconfig-credential', 'client-key-data'],
      ['kubeconfig-credential', 'token'],
    ])
    expect(found[0].value).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n[\s\S]+\n-----END RSA PRIVATE KEY-----$/)
  })
})

describe('GCP service-account key files', () => {
  it('report the private key as one unescaped PEM, its key naming the private_key_id to revoke', () => {
    const keyFile = detectorById('gcp-service-account-private-key').examples[0]
    const found = scanFile('secrets/sa.json', keyFile)
    expect(found).toHaveLength(1)
    expect(found[0]).toMatchObject({ detectorId: 'gcp-service-account-private-key', key: 'private_key (private_key_id aa2246e2e9a7b227353b7b77ecbcf142f19282cf)' })
    expect(found[0].value).toMatch(/^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/\n]+\n-----END PRIVATE KEY-----$/)
  })
})

describe('Maven settings.xml and .pypirc', () => {
  it('take the password of a server, entities decoded, over the generic XML rule', () => {
    const found = scanFile('root/.m2/settings.xml', detectorById('maven-settings-password').examples[0])
    expect(found.map((match) => [match.detectorId, match.key, match.value])).toEqual([['maven-settings-password', 'password', 'Xk29fLq8Zt&m4Rv']])
  })

  it('take the passwords of the index sections', () => {
    const found = scanFile('root/.pypirc', detectorById('pypirc-password').examples[0])
    // an upload token in a password field is named as what it is
    expect(found.map((match) => [match.detectorId, match.lineNumber])).toEqual([
      ['pypi-upload-token', 8],
      ['pypirc-password', 13],
    ])
  })
})

describe('file paths', () => {
  it('recognise a credentials file inside an archive', () => {
    expect(matchesOf('netrc-password', 'machine x\nlogin y\npassword Tq9xL2mVr7KzW4pN\n', 'opt/tools.jar!home/.netrc')).toHaveLength(1)
    expect(matchesOf('netrc-password', 'machine x\nlogin y\npassword Tq9xL2mVr7KzW4pN\n', 'opt/tools.jar!home/netrc.txt')).toEqual([])
  })
})
