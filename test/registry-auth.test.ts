import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { defaultLimits } from '../core/limits.ts'
import { buildImage } from '../plugins/sources/image-builder.ts'
import { parseWwwAuthenticate } from '../plugins/sources/registry-auth.ts'
import { createCredentialStore } from '../plugins/sources/registry-credentials.ts'
import { registrySource } from '../plugins/sources/registry.ts'
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.ts'
import { pushImage, uniqueRepository } from './support/push.ts'

describe('parseWwwAuthenticate', () => {
  it.each([
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } }],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    ['BASIC Realm="x"', [{ scheme: 'basic', params: { realm: 'x' } }]],
    [
      'Basic realm="a", Bearer realm="https://b.example/token",service="svc"',
      [
        { scheme: 'basic', params: { realm: 'a' } },
        { scheme: 'bearer', params: { realm: 'https://b.example/token', service: 'svc' } },
      ],
    ],
    ['Bearer realm="r",error_description="say \\"hi\\", then \\\\ bye"', [{ scheme: 'bearer', params: { realm: 'r', error_description: 'say "hi", then \\ bye' } }]],
    ['Bearer realm="r",scope="repository:a:pull,push"', [{ scheme: 'bearer', params: { realm: 'r', scope: 'repository:a:pull,push' } }]],
    ['Bearer realm="r",scope="repository:a:pull repository:b:pull"', [{ scheme: 'bearer', params: { realm: 'r', scope: 'repository:a:pull repository:b:pull' } }]],
    ['Bearer realm=https://x.example/token, service=svc', [{ scheme: 'bearer', params: { realm: 'https://x.example/token', service: 'svc' } }]],
    ['Bearer realm = "r" , service = "s"', [{ scheme: 'bearer', params: { realm: 'r', service: 's' } }]],
    [
      'Negotiate YIIB/w==, Basic realm="x"',
      [
        { scheme: 'negotiate', params: {}, token68: 'YIIB/w==' },
        { scheme: 'basic', params: { realm: 'x' } },
      ],
    ],
    ['Basic', [{ scheme: 'basic', params: {} }]],
    [
      ', Basic realm="a",, Bearer realm="b"',
      [
        { scheme: 'basic', params: { realm: 'a' } },
        { scheme: 'bearer', params: { realm: 'b' } },
      ],
    ],
    ['Bearer realm="first",realm="second"', [{ scheme: 'bearer', params: { realm: 'first' } }]],
    ['Bearer realm="unterminated', [{ scheme: 'bearer', params: { realm: 'unterminated' } }]],
    ['', []],
  ])('%s', (header, challenges) => {
    expect(parseWwwAuthenticate(header)).toEqual(challenges)
  })
})

describe('the credential store', () => {
  let dir: string
  const basicAuth = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64')
  const withConfig = async (config: unknown, options: { env?: Record<string, string> } = {}) => {
    const configDir = await mkdtemp(join(dir, 'docker-'))
    await writeFile(join(configDir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config))
    return createCredentialStore({ dockerConfigDir: configDir, env: { PATH: process.env.PATH, ...options.env } })
  }
  /** a docker-credential-<name> that logs what it was asked and answers from a table */
  const helper = async (name: string, answers: Record<string, { Username: string; Secret: string }>) => {
    const script = join(dir, `docker-credential-${name}`)
    const log = join(dir, `${name}.log`)
    const cases = Object.entries(answers)
      .map(([server, answer]) => `  '${server}') echo '${JSON.stringify({ ServerURL: server, ...answer })}' ;;`)
      .join('\n')
    await writeFile(
      script,
      `#!/bin/sh\n[ "$1" = get ] || exit 2\nread server\necho "$server" >> '${log}'\ncase "$server" in\n${cases}\n  *) echo "credentials not found in native keychain"; exit 1 ;;\nesac\n`,
    )
    await chmod(script, 0o755)
    return { log: async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean) }
  }
  const helperEnv = () => ({ PATH: `${dir}:${process.env.PATH}` })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'layerleak-credentials-'))
  })

  it('reads base64 auth, username/password and identity tokens from auths', async () => {
    const store = await withConfig({
      auths: {
        'ghcr.io': { auth: basicAuth('octo', 'pa:ss') },
        'quay.io': { username: 'robot', password: 'token' },
        'myregistry.azurecr.io': { username: '00000000-0000-0000-0000-000000000000', identitytoken: 'refresh' },
      },
    })
    expect(await store.get('ghcr.io')).toEqual({ username: 'octo', password: 'pa:ss' })
    expect(await store.get('quay.io')).toEqual({ username: 'robot', password: 'token' })
    expect(await store.get('myregistry.azurecr.io')).toMatchObject({ identityToken: 'refresh' })
    expect(await store.get('gcr.io')).toBeUndefined()
  })

  it('matches keys written as URLs, and Docker Hub under any of its names', async () => {
    const store = await withConfig({ auths: { 'https://index.docker.io/v1/': { auth: basicAuth('hub', 'x') }, 'http://localhost:5000': { auth: basicAuth('local', 'y') } } })
    expect(await store.get('docker.io')).toEqual({ username: 'hub', password: 'x' })
    expect(await store.get('localhost:5000')).toEqual({ username: 'local', password: 'y' })
  })

  it('lets explicit credentials win over the config', async () => {
    const configDir = await mkdtemp(join(dir, 'docker-'))
    await writeFile(join(configDir, 'config.json'), JSON.stringify({ auths: { 'ghcr.io': { auth: basicAuth('config', 'x') } } }))
    const store = createCredentialStore({ dockerConfigDir: configDir, username: 'flag', password: 'y' })
    expect(await store.get('ghcr.io')).toEqual({ username: 'flag', password: 'y' })
  })

  it('asks the credHelpers entry for its host over the helper protocol', async () => {
    const calls = await helper('pass', { 'ghcr.io': { Username: 'octo', Secret: 'ghp_x' }, 'https://index.docker.io/v1/': { Username: '<token>', Secret: 'hub-refresh' } })
    const store = await withConfig({ credHelpers: { 'ghcr.io': 'pass', 'docker.io': 'pass' } }, { env: helperEnv() })
    expect(await store.get('ghcr.io')).toEqual({ username: 'octo', password: 'ghp_x' })
    expect(await store.get('docker.io')).toEqual({ identityToken: 'hub-refresh' })
    expect(await calls.log()).toEqual(['ghcr.io', 'https://index.docker.io/v1/'])
  })

  it('treats "credentials not found" from credsStore as anonymous', async () => {
    await helper('store', {})
    const store = await withConfig({ credsStore: 'store' }, { env: helperEnv() })
    expect(await store.get('quay.io')).toBeUndefined()
  })

  it('reads anonymously, with a warning, when the credsStore helper is not installed', async () => {
    const warnings: string[] = []
    const configDir = await mkdtemp(join(dir, 'docker-'))
    await writeFile(join(configDir, 'config.json'), JSON.stringify({ credsStore: 'desktop-not-here' }))
    const store = createCredentialStore({ dockerConfigDir: configDir, env: helperEnv(), onWarning: (message) => warnings.push(message) })
    expect(await store.get('docker.io')).toBeUndefined()
    expect(warnings).toEqual([expect.stringContaining('docker-credential-desktop-not-here')])
  })

  it('fails with CREDENTIALS_ERROR for a missing helper only when its host needs credentials', async () => {
    const store = await withConfig({ credHelpers: { 'private.example': 'not-installed' }, auths: { 'ghcr.io': { auth: basicAuth('a', 'b') } } }, { env: helperEnv() })
    expect(await store.get('ghcr.io')).toEqual({ username: 'a', password: 'b' })
    await expect(store.get('private.example')).rejects.toMatchObject({ code: 'CREDENTIALS_ERROR', message: expect.stringContaining('docker-credential-not-installed') })
  })

  it('fails with CREDENTIALS_ERROR when config.json is not JSON', async () => {
    const store = await withConfig('{ not json')
    await expect(store.get('ghcr.io')).rejects.toMatchObject({ code: 'CREDENTIALS_ERROR', message: expect.stringContaining('config.json') })
  })

  it('reads $DOCKER_CONFIG when no directory is given', async () => {
    const configDir = await mkdtemp(join(dir, 'docker-'))
    await writeFile(join(configDir, 'config.json'), JSON.stringify({ auths: { 'ghcr.io': { auth: basicAuth('env', 'z') } } }))
    const store = createCredentialStore({ env: { DOCKER_CONFIG: configDir } })
    expect(await store.get('ghcr.io')).toEqual({ username: 'env', password: 'z' })
  })
})

describe('credentials from the Docker config, end to end', () => {
  let proxy: FaultProxy
  let repository: string
  beforeAll(async () => {
    proxy = await startFaultProxy(inject('registryHost'))
    repository = uniqueRepository('auth-e2e')
    await pushImage(inject('registryHost'), repository, await buildImage({ layers: [{ files: [{ path: 'a', content: 'a' }] }] }), ['v1'])
  })
  afterAll(() => proxy.close())
  beforeEach(() => proxy.reset())

  it('resolves an image behind Basic auth with credentials from config.json', async () => {
    proxy.setAuth({ type: 'basic', username: 'ci', password: 'from-config' })
    const configDir = await mkdtemp(join(tmpdir(), 'layerleak-docker-'))
    await writeFile(join(configDir, 'config.json'), JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from('ci:from-config').toString('base64') } } }))
    const source = registrySource({ dockerConfigDir: configDir })
    const targets = []
    for await (const target of source.resolve(`${proxy.host}/${repository}:v1`, { limits: defaultLimits, report: () => {} })) targets.push(target)
    expect(targets).toHaveLength(1)
    expect((await targets[0].config()).digest).toMatch(/^sha256:/)
  })
})
