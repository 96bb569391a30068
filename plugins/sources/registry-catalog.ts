/**
 * The repositories of a namespace, for `layerleak scan --namespace`: a Docker Hub organisation or
 * user through Hub's own API (`GET <hub>/v2/namespaces/<org>/repositories?page_size=100`, pages
 * chained by `next`), or a prefix of a self-hosted registry through `/v2/_catalog?n=` (RFC 8288
 * Link pagination), filtered to the repositories under the prefix. Each comes out as a bare
 * repository reference (`docker.io/acme/api`, `registry.example:5000/team/app`) ready to sweep.
 */
import { LayerleakError } from '../../core/errors.ts'
import { defaultLimits } from '../../core/limits.ts'
import { DOCKER_HUB, parseImageReference } from './image-reference.ts'
import type { RegistryClient } from './registry-client.ts'

export const DOCKER_HUB_API_URL = 'https://hub.docker.com'
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'hub.docker.com'])
/** Hub answers at most 100 per page */
const HUB_MAX_PAGE_SIZE = 100

export type NamespaceSpec =
  /** every repository of a Docker Hub organisation or user */
  | { kind: 'hub'; namespace: string }
  /** every repository of a registry's catalog under `prefix/` (all of them when the prefix is empty) */
  | { kind: 'catalog'; registry: string; prefix: string }

/**
 * `acme` and `docker.io/acme`: a Hub namespace; `registry.example:5000/team` (or just the host): a
 * catalog prefix. Names are checked with the reference grammar, so a typo fails here.
 */
export const parseNamespace = (input: string): NamespaceSpec => {
  const text = input.trim().replace(/\/+$/, '')
  if (text === '') throw new LayerleakError('INVALID_ARGUMENT', 'the namespace is empty')
  if (HUB_ALIASES.has(text.toLowerCase())) {
    throw new LayerleakError('INVALID_ARGUMENT', `"${input}": Docker Hub has no catalog; name an organisation or user (--namespace acme)`)
  }
  // the reference grammar decides what is a host and checks every path component
  let probe
  try {
    probe = parseImageReference(`${text}/x`)
  } catch (error) {
    throw new LayerleakError('INVALID_ARGUMENT', `invalid namespace "${input}": ${(error as Error).message.replace(/^invalid image reference "[^"]*": /, '')}`)
  }
  const prefix = probe.repository.slice(0, -'/x'.length)
  if (probe.registry !== DOCKER_HUB) return { kind: 'catalog', registry: probe.registry, prefix }
  if (prefix === '' || prefix.includes('/')) {
    throw new LayerleakError('INVALID_ARGUMENT', `invalid namespace "${input}": a Docker Hub namespace is one name (an organisation or a user)`)
  }
  return { kind: 'hub', namespace: prefix }
}

export interface NamespaceListingOptions {
  client: RegistryClient
  /** Docker Hub's API (default https://hub.docker.com); tests and mirrors point it elsewhere */
  hubApiUrl?: string
  /** entries per page (LAYERLEAK_TAG_PAGE_SIZE; Hub takes at most 100) */
  pageSize?: number
  /** cap on one page's body (LAYERLEAK_MAX_TAG_RESPONSE_BYTES) */
  maxResponseBytes?: number
  signal?: AbortSignal
}

interface HubPage {
  next?: unknown
  results?: unknown
}

async function* hubRepositories(namespace: string, options: NamespaceListingOptions): AsyncIterable<string> {
  const base = (options.hubApiUrl ?? DOCKER_HUB_API_URL).replace(/\/+$/, '')
  const origin = new URL(base).origin
  const pageSize = Math.min(options.pageSize ?? HUB_MAX_PAGE_SIZE, HUB_MAX_PAGE_SIZE)
  const what = `the repositories of the Docker Hub namespace ${namespace}`
  const seen = new Set<string>()
  let url: string | undefined = `${base}/v2/namespaces/${encodeURIComponent(namespace)}/repositories?page_size=${pageSize}`
  while (url) {
    if (seen.has(url)) throw new LayerleakError('REGISTRY_ERROR', `${what}: the pagination loops back to ${url}`)
    seen.add(url)
    const { body, url: answered } = await options.client.getJson(url, {
      what,
      maxBytes: options.maxResponseBytes ?? defaultLimits.maxTagResponseBytes,
      ...(options.signal ? { signal: options.signal } : {}),
    })
    const page = (body ?? {}) as HubPage
    if (!Array.isArray(page.results)) throw new LayerleakError('REGISTRY_ERROR', `${what}: the answer has no "results" list`)
    for (const entry of page.results as Array<Record<string, unknown>>) {
      if (!entry || typeof entry.name !== 'string') continue
      // Hub also lists plugins and other artifacts; only images can be swept
      if (typeof entry.repository_type === 'string' && entry.repository_type !== 'image') continue
      yield `${DOCKER_HUB}/${typeof entry.namespace === 'string' && entry.namespace ? entry.namespace : namespace}/${entry.name}`
    }
    if (typeof page.next !== 'string' || page.next === '') return
    const next = new URL(page.next, answered)
    if (next.origin !== origin) throw new LayerleakError('REGISTRY_ERROR', `${what}: refusing a next-page link to another host (${next.host})`)
    url = next.href
  }
}

async function* catalogRepositories(registry: string, prefix: string, options: NamespaceListingOptions): AsyncIterable<string> {
  const pages = options.client.catalogPages(registry, {
    ...(options.pageSize ? { pageSize: options.pageSize } : {}),
    ...(options.maxResponseBytes !== undefined ? { maxResponseBytes: options.maxResponseBytes } : {}),
    // the catalog is sorted: start right before the prefix (registries that ignore `last` start at the top)
    ...(prefix ? { last: prefix } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  })
  for await (const page of pages) {
    for (const repository of page) {
      if (prefix === '' || repository.startsWith(`${prefix}/`)) yield `${registry}/${repository}`
    }
  }
}

/** Every repository of the namespace, once each, in the order the registry lists them. */
export async function* namespaceRepositories(spec: NamespaceSpec, options: NamespaceListingOptions): AsyncIterable<string> {
  const seen = new Set<string>()
  const listing = spec.kind === 'hub' ? hubRepositories(spec.namespace, options) : catalogRepositories(spec.registry, spec.prefix, options)
  for await (const repository of listing) {
    if (seen.has(repository)) continue
    seen.add(repository)
    yield repository
  }
}
