/**
 * A scan request makes the server fetch from a host the caller names. This guard refuses registry
 * hosts that are, or resolve to, loopback, private, link-local, CGNAT, cloud-metadata or other
 * non-public addresses, unless the operator allowlisted the host by name
 * (LAYERLEAK_ALLOWED_PRIVATE_REGISTRIES). It wraps the fetch the registry client uses, so every
 * request goes through it: token endpoints named by a challenge, and every redirect hop (the
 * client follows redirects itself with `redirect: 'manual'`; any other mode is followed here).
 *
 * Known limit: the address is checked, then fetch resolves the name again. A DNS server that
 * answers differently within that moment (rebinding) is not caught; pinning the address would need
 * the HTTP client's connect hook, which differs per runtime.
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { LayerleakError } from '../core/errors.ts'

export interface LookupAddress {
  address: string
  family: number
}

export interface SsrfGuardOptions {
  /** `host` (any port) or `host:port`, as written in references: `registry.internal`, `127.0.0.1:5000`, `[::1]:5000` */
  allowedHosts?: readonly string[]
  /** name resolution (default node:dns/promises lookup with all: true) */
  lookup?: (hostname: string) => Promise<LookupAddress[]>
}

export interface SsrfGuard {
  /** Throws DENIED when the URL's host may not be fetched from. */
  check(url: URL | string): Promise<void>
  /** `fetch` with every request, and every redirect it would follow, checked first. */
  wrap(fetchImpl: typeof fetch): typeof fetch
}

const MAX_REDIRECTS = 10
const REDIRECTS = new Set([301, 302, 303, 307, 308])

/** [network, prefix length, what it is] */
type Range = [bigint, number, string]

const v4 = (text: string): bigint => text.split('.').reduce((value, part) => (value << 8n) | BigInt(Number(part)), 0n)

const IPV4_RANGES: Array<[string, number, string]> = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT (shared)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignment'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay anycast'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
]
const V4: Range[] = IPV4_RANGES.map(([network, bits, kind]) => [v4(network), bits, kind])

/** Eight 16-bit groups of an IPv6 address (with an optional dotted IPv4 tail) as one number. */
const v6 = (text: string): bigint => {
  let address = text.toLowerCase()
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(address)
  if (dotted) {
    const tail = v4(dotted[1])
    address = `${address.slice(0, dotted.index)}${(tail >> 16n).toString(16)}:${(tail & 0xffffn).toString(16)}`
  }
  const [head, tail] = address.split('::') as [string, string | undefined]
  const headGroups = head ? head.split(':') : []
  const tailGroups = tail ? tail.split(':') : []
  const missing = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length
  const groups = [...headGroups, ...Array.from({ length: missing }, () => '0'), ...tailGroups]
  return groups.reduce((value, group) => (value << 16n) | BigInt(parseInt(group || '0', 16)), 0n)
}

const V6: Range[] = (
  [
    ['::', 128, 'unspecified'],
    ['::1', 128, 'loopback'],
    ['100::', 64, 'discard-only'],
    ['2001:db8::', 32, 'documentation'],
    ['fc00::', 7, 'unique local'],
    ['fe80::', 10, 'link-local'],
    ['fec0::', 10, 'site-local'],
    ['ff00::', 8, 'multicast'],
  ] as Array<[string, number, string]>
).map(([network, bits, kind]) => [v6(network), bits, kind])

const inRange = (value: bigint, width: number, [network, bits]: Range): boolean => value >> BigInt(width - bits) === network >> BigInt(width - bits)

/** the instance metadata services of the big clouds (AWS, GCP, Azure, Oracle; Alibaba; AWS over IPv6) */
const METADATA = new Set([v4('169.254.169.254'), v4('100.100.100.200')])
const METADATA_V6 = v6('fd00:ec2::254')

const classifyV4 = (value: bigint): string | undefined => (METADATA.has(value) ? 'cloud metadata' : V4.find((range) => inRange(value, 32, range))?.[2])

/**
 * Why an address must not be fetched from (`loopback`, `private`...), or undefined for a public
 * one. IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by it.
 */
export const refusedAddressKind = (address: string): string | undefined => {
  const family = isIP(address)
  if (family === 4) return classifyV4(v4(address))
  if (family !== 6) return 'not an IP address'
  const value = v6(address)
  const low32 = value & 0xffffffffn
  const embedded =
    value >> 32n === 0xffffn // ::ffff:a.b.c.d
      ? low32
      : value >> 32n === 0n && value > 1n // ::a.b.c.d (deprecated IPv4-compatible)
        ? low32
        : value >> 32n === 0x64ff9b0000000000000000n // 64:ff9b::a.b.c.d (NAT64)
          ? low32
          : value >> 112n === 0x2002n // 2002:aabb:ccdd::/48 (6to4)
            ? (value >> 80n) & 0xffffffffn
            : undefined
  if (embedded !== undefined) {
    const kind = classifyV4(embedded)
    if (kind) return `${kind}, as IPv4 inside IPv6`
  }
  if (value === METADATA_V6) return 'cloud metadata'
  return V6.find((range) => inRange(value, 128, range))?.[2]
}

/** `[::1]` -> `::1`; lower case. */
const bare = (host: string): string => host.replace(/^\[|\]$/g, '').toLowerCase()

/** The allowlist entries normalised as URLs see hosts: `host` or `host:port`, IPv6 in brackets. */
const normaliseAllowed = (entries: readonly string[]): Set<string> => {
  const out = new Set<string>()
  for (const raw of entries) {
    const entry = raw.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '')
    if (!entry) continue
    const withPort = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry)
    const host = withPort ? withPort[1] : isIP(entry) === 6 ? `[${entry}]` : entry
    let hostname: string
    try {
      // the URL parser's spelling of the host: `0x7f.1` and `127.0.0.1` are the same host to it
      hostname = new URL(`http://${host}`).hostname.toLowerCase().replace(/\.$/, '')
    } catch {
      hostname = host.toLowerCase()
    }
    out.add(withPort ? `${hostname}:${withPort[2]}` : hostname)
  }
  return out
}

const defaultLookup = (hostname: string): Promise<LookupAddress[]> => lookup(hostname, { all: true, verbatim: true })

const refuse = (url: URL, kind: string, address: string) =>
  new LayerleakError(
    'DENIED',
    `refusing to fetch from ${url.host}: ${address === bare(url.hostname) ? address : `it resolves to ${address}, which`} is not a public address (${kind}); an operator can allow the host with LAYERLEAK_ALLOWED_PRIVATE_REGISTRIES`,
    { details: { host: url.host, address, reason: 'private_address' } },
  )

const urlOf = (input: RequestInfo | URL): URL => new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)

const withoutAuthorization = (headers: HeadersInit | undefined): Headers => {
  const copy = new Headers(headers)
  copy.delete('authorization')
  copy.delete('cookie')
  return copy
}

export const createSsrfGuard = (options: SsrfGuardOptions = {}): SsrfGuard => {
  const allowed = normaliseAllowed(options.allowedHosts ?? [])
  const resolveAll = options.lookup ?? defaultLookup

  const check = async (target: URL | string): Promise<void> => {
    const url = typeof target === 'string' ? new URL(target) : target
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new LayerleakError('DENIED', `refusing to fetch ${url.protocol} URLs: only http and https are spoken to registries`)
    // `localhost.` and `localhost` are one name to a resolver
    const named = url.hostname.toLowerCase().replace(/\.$/, '')
    const hostname = bare(named)
    const port = url.port || (url.protocol === 'https:' ? '443' : '80')
    if (allowed.has(named) || allowed.has(`${named}:${port}`)) return
    if (isIP(hostname)) {
      const kind = refusedAddressKind(hostname)
      if (kind) throw refuse(url, kind, hostname)
      return
    }
    // RFC 6761: these names are loopback whatever a resolver says
    if (hostname === 'localhost' || hostname.endsWith('.localhost')) throw refuse(url, 'loopback', '127.0.0.1')
    let addresses: LookupAddress[]
    try {
      addresses = await resolveAll(hostname)
    } catch (cause) {
      throw new LayerleakError('NETWORK_ERROR', `cannot resolve ${hostname}: ${(cause as Error).message}`, { cause, details: { permanent: true } })
    }
    if (addresses.length === 0) throw new LayerleakError('NETWORK_ERROR', `cannot resolve ${hostname}: no addresses`, { details: { permanent: true } })
    // fetch may connect to any of them: every one must be public
    for (const { address } of addresses) {
      const kind = refusedAddressKind(address)
      if (kind) throw refuse(url, kind, address)
    }
  }

  const wrap = (fetchImpl: typeof fetch): typeof fetch =>
    (async (input: RequestInfo | URL, init?: RequestInit) => {
      let url = urlOf(input)
      await check(url)
      const mode = init?.redirect ?? (input instanceof Request ? input.redirect : 'follow')
      if (mode === 'manual') return fetchImpl(input, init)
      // followed here, one checked hop at a time, never by the client where the guard cannot see
      let method = init?.method ?? (input instanceof Request ? input.method : 'GET')
      let headers: HeadersInit | undefined = init?.headers ?? (input instanceof Request ? input.headers : undefined)
      let body = init?.body
      const origin = url.origin
      let next: RequestInfo | URL = input
      for (let hops = 0; ; hops++) {
        const response = await fetchImpl(next, { ...init, method, headers, body, redirect: 'manual' })
        const location = response.headers.get('location')
        if (!REDIRECTS.has(response.status) || !location) return response
        if (mode === 'error') throw new TypeError(`fetch: redirected from ${url.href} with redirect: 'error'`)
        await response.body?.cancel().catch(() => {})
        if (hops === MAX_REDIRECTS) throw new LayerleakError('REGISTRY_ERROR', `more than ${MAX_REDIRECTS} redirects from ${origin}`)
        url = new URL(location, url)
        await check(url)
        if (url.origin !== origin) headers = withoutAuthorization(headers)
        if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
          method = 'GET'
          body = undefined
        }
        next = url.href
      }
    }) as typeof fetch

  return { check, wrap }
}
