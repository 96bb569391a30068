/**
 * The SSRF guard on its own: which addresses are refused (IPv6 spellings of IPv4 ones included),
 * how the allowlist matches, and that a fetch it wraps checks every redirect hop, whichever way
 * redirects are followed. Real sockets: a node:http redirector on loopback.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isLayerleakError } from '../core/errors.ts'
import { createSsrfGuard, refusedAddressKind } from '../server/ssrf-guard.ts'

describe('refusedAddressKind', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.20.30.40', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrier-grade NAT (shared)'],
    ['169.254.10.10', 'link-local'],
    ['169.254.169.254', 'cloud metadata'],
    ['100.100.100.200', 'cloud metadata'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fd12:3456::1', 'unique local'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['::ffff:127.0.0.1', 'loopback, as IPv4 inside IPv6'],
    ['::ffff:a9fe:a9fe', 'cloud metadata, as IPv4 inside IPv6'],
    ['64:ff9b::10.0.0.1', 'private, as IPv4 inside IPv6'],
    ['2002:c0a8:0101::1', 'private, as IPv4 inside IPv6'],
  ])('refuses %s (%s)', (address, kind) => {
    expect(refusedAddressKind(address)).toBe(kind)
  })

  it.each(['8.8.8.8', '172.32.0.1', '100.128.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '2a00:1450:4001::200e'])('lets the public address %s through', (address) => {
    expect(refusedAddressKind(address)).toBeUndefined()
  })
})

describe('createSsrfGuard().check', () => {
  const refused = async (guard: ReturnType<typeof createSsrfGuard>, url: string) => {
    const error = await guard.check(url).then(() => undefined, (failure: unknown) => failure)
    expect(isLayerleakError(error, 'DENIED'), `${url}: ${String(error)}`).toBe(true)
    return (error as Error).message
  }

  it('refuses loopback names and numeric spellings of loopback, however written', async () => {
    const guard = createSsrfGuard()
    for (const url of ['http://localhost:5000/v2/', 'http://LOCALHOST./', 'http://registry.localhost/', 'http://2130706433/', 'http://0x7f.1/', 'http://[::ffff:7f00:1]/', 'http://0/']) await refused(guard, url)
  })

  it('refuses a name whose addresses include a private one, naming the address', async () => {
    const guard = createSsrfGuard({ lookup: async () => [{ address: '93.184.215.14', family: 4 }, { address: '10.1.2.3', family: 4 }] })
    expect(await refused(guard, 'https://registry.example.com/v2/')).toContain('it resolves to 10.1.2.3')
    const publicOnly = createSsrfGuard({ lookup: async () => [{ address: '93.184.215.14', family: 4 }] })
    await expect(publicOnly.check('https://registry.example.com/v2/')).resolves.toBeUndefined()
  })

  it('allows allowlisted hosts by name, with any port or only the one given', async () => {
    const guard = createSsrfGuard({ allowedHosts: ['127.0.0.1', 'registry.internal:5000', '[::1]:8443'], lookup: async () => [{ address: '10.0.0.5', family: 4 }] })
    await expect(guard.check('http://127.0.0.1:1234/')).resolves.toBeUndefined()
    await expect(guard.check('http://registry.internal:5000/')).resolves.toBeUndefined()
    await refused(guard, 'http://registry.internal:5001/')
    await expect(guard.check('https://[::1]:8443/')).resolves.toBeUndefined()
    await refused(guard, 'https://[::1]:8444/')
    // allowed by name, not by address: another name for the same address is still refused
    await refused(guard, 'http://localhost:1234/')
    await refused(guard, 'http://127.0.0.2:1234/')
  })

  it('speaks only http and https', async () => {
    await refused(createSsrfGuard(), 'file:///etc/passwd')
  })
})

describe('a fetch wrapped by the guard', () => {
  let redirector: Server
  let target: Server
  let targetHits = 0
  let base = ''

  beforeAll(async () => {
    target = createServer((_req, res) => {
      targetHits++
      res.end('secret metadata')
    })
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.2', resolve))
    const targetPort = (target.address() as AddressInfo).port
    redirector = createServer((req, res) => {
      if (req.url === '/ok') return void res.end('fine')
      res.writeHead(req.url === '/see-other' ? 303 : 307, { location: req.url === '/hop' ? '/ok' : `http://127.0.0.2:${targetPort}/latest` }).end()
    })
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`
  })

  afterAll(async () => {
    await Promise.all([redirector, target].map((server) => new Promise((resolve) => server.close(resolve))))
  })

  const guarded = createSsrfGuard({ allowedHosts: ['127.0.0.1'] }).wrap(fetch)

  it('follows an allowed redirect itself', async () => {
    const response = await guarded(`${base}/hop`)
    expect(await response.text()).toBe('fine')
  })

  it('refuses a redirect to a refused host, in follow mode and in manual mode hop by hop', async () => {
    for (const path of ['/redirect', '/see-other']) {
      await expect(guarded(`${base}${path}`)).rejects.toThrow(/127\.0\.0\.2 is not a public address \(loopback\)/)
    }
    const manual = await guarded(`${base}/redirect`, { redirect: 'manual' })
    expect(manual.status).toBe(307)
    await expect(guarded(new URL(manual.headers.get('location') as string, base).href, { redirect: 'manual' })).rejects.toThrow(/not a public address/)
    expect(targetHits).toBe(0)
  })
})
