/**
 * Image references as `docker pull` reads them: the distribution grammar (reference/regexp.go)
 * plus Docker's normalisation (no registry means Docker Hub, single names live under `library/`).
 * Parsing is strict so a typo fails here with a clear message, not as a 404 three requests later.
 */
import { LayerleakError } from '../../core/errors.ts'

export const DOCKER_HUB = 'docker.io'
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])
const DOCKER_HUB_API = 'https://registry-1.docker.io'

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`)
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG = /^[\w][\w.-]{0,127}$/
const DIGEST_GRAMMAR = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/
const SUPPORTED_DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/
const IMAGE_ID = /^[a-f0-9]{64}$/
const MAX_NAME_LENGTH = 255

export interface ImageReference {
  /** `docker.io`, `ghcr.io`, `localhost:5000` (lower case) */
  registry: string
  /** `library/alpine`, `org/app` */
  repository: string
  tag?: string
  /** when given together with a tag, the digest is what gets fetched; the tag is kept for reports */
  digest?: string
  /** neither tag nor digest was given */
  bare: boolean
  /** `registry/repository` */
  name: string
  /** what to ask the registry for: the digest, else the tag, else `latest` */
  fetchReference: string
  /** `docker.io/library/alpine:3.20`, `ghcr.io/org/app:1@sha256:...` */
  toString(): string
}

const invalid = (text: string, why: string): LayerleakError =>
  new LayerleakError('INVALID_REFERENCE', `invalid image reference "${text}": ${why}`)

export const imageReference = (parts: { registry: string; repository: string; tag?: string; digest?: string }): ImageReference => {
  const { registry, repository, tag, digest } = parts
  const name = `${registry}/${repository}`
  const text = `${name}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`
  return {
    registry,
    repository,
    ...(tag ? { tag } : {}),
    ...(digest ? { digest } : {}),
    bare: !tag && !digest,
    name,
    fetchReference: digest ?? tag ?? 'latest',
    toString: () => text,
  }
}

/** The same reference with `latest` filled in when it named neither tag nor digest. */
export const withDefaultTag = (reference: ImageReference): ImageReference =>
  reference.bare ? imageReference({ ...reference, tag: 'latest' }) : reference

/**
 * Docker's rule: the first component is a registry when it looks like a host name, else the name
 * is on Docker Hub. (Docker also takes an upper-case first component for a host; here `MyOrg/app`
 * fails as an upper-case repository instead, which says what is wrong.)
 */
const looksLikeHost = (component: string): boolean => component.includes('.') || component.includes(':') || component === 'localhost'

const splitDigest = (text: string, whole: string): [string, string | undefined] => {
  const at = text.indexOf('@')
  if (at === -1) return [text, undefined]
  const digest = text.slice(at + 1)
  if (digest.includes('@')) throw invalid(whole, 'more than one "@"')
  if (!DIGEST_GRAMMAR.test(digest)) throw invalid(whole, `"${digest}" is not a digest (expected sha256:<64 hex digits>)`)
  if (!SUPPORTED_DIGEST.test(digest)) {
    throw invalid(whole, `digest "${digest}" is not a lower-case sha256 (64 hex digits) or sha512 (128 hex digits) digest`)
  }
  return [text.slice(0, at), digest]
}

const splitTag = (text: string, whole: string): [string, string | undefined] => {
  const colon = text.lastIndexOf(':')
  if (colon === -1 || colon < text.lastIndexOf('/')) return [text, undefined]
  const tag = text.slice(colon + 1)
  if (!TAG.test(tag)) throw invalid(whole, `"${tag}" is not a valid tag (letters, digits, _ . -, at most 128, not starting with . or -)`)
  return [text.slice(0, colon), tag]
}

export const parseImageReference = (text: string): ImageReference => {
  if (text === '') throw new LayerleakError('INVALID_REFERENCE', 'the image reference is empty')
  if (/\s/.test(text)) throw invalid(text, 'it contains whitespace')
  const [withoutDigest, digest] = splitDigest(text, text)
  const [name, tag] = splitTag(withoutDigest, text)
  if (name === '') throw invalid(text, 'the repository name is missing')
  if (name.length > MAX_NAME_LENGTH) throw invalid(text, `the name is longer than ${MAX_NAME_LENGTH} characters`)

  const slash = name.indexOf('/')
  const hasHost = slash !== -1 && looksLikeHost(name.slice(0, slash))
  let registry = hasHost ? name.slice(0, slash).toLowerCase() : DOCKER_HUB
  let repository = hasHost ? name.slice(slash + 1) : name
  if (hasHost && !DOMAIN.test(registry)) throw invalid(text, `"${name.slice(0, slash)}" is not a valid registry host`)
  if (!hasHost && IMAGE_ID.test(name)) throw invalid(text, 'it looks like an image ID, not a repository name')
  if (DOCKER_HUB_ALIASES.has(registry)) registry = DOCKER_HUB
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`

  if (repository === '') throw invalid(text, 'the repository name is missing')
  if (repository !== repository.toLowerCase()) throw invalid(text, `repository name "${repository}" must be lower case`)
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(text, `"${component}" is not a valid repository path component (lower-case letters and digits, separated by . _ __ or -)`)
    }
  }
  return imageReference({ registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) })
}

export interface ApiBaseOptions {
  /** hosts (`host` or `host:port`) spoken to over plain HTTP */
  insecureRegistries?: readonly string[]
  /** replaces Docker Hub's API base (a mirror, a test server) */
  registryBaseUrl?: string
}

/** The host name without port or IPv6 brackets: `[::1]:5000` -> `::1`. */
export const hostnameOf = (registry: string): string => {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'))
  const colon = registry.lastIndexOf(':')
  return colon === -1 ? registry : registry.slice(0, colon)
}

export const isLoopbackHost = (hostname: string): boolean =>
  hostname === 'localhost' || hostname === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

/** Where a registry's `/v2/` API lives: Hub's real host, plain HTTP for loopback and insecure hosts. */
export const apiBase = (registry: string, options: ApiBaseOptions = {}): string => {
  if (registry === DOCKER_HUB) return (options.registryBaseUrl ?? DOCKER_HUB_API).replace(/\/+$/, '')
  const insecure = options.insecureRegistries ?? []
  const plain = isLoopbackHost(hostnameOf(registry)) || insecure.includes(registry) || insecure.includes(hostnameOf(registry))
  return `${plain ? 'http' : 'https'}://${registry}`
}
