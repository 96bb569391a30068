/**
 * The registry source: a reference in, one Target per platform image out, straight from an OCI
 * distribution registry. An index yields its real platforms (attestations are reported, not
 * scanned); foreign and non-tar layers are reported and left out; every manifest and blob is
 * verified against its digest. With `allTags` a bare repository is swept: every tag listed,
 * resolved with HEAD and grouped by digest (repository-sweep.ts), one scan per digest, each
 * Target naming every tag that points at it.
 */
import { z } from 'zod'
import { defineSource, type ImageConfig, type LayerDescriptor, type ManifestInfo, type Platform, type ResolveOptions, type Target } from '../../core/contracts.ts'
import { LayerleakError, isLayerleakError } from '../../core/errors.ts'
import { isForeignLayerMediaType } from '../../core/media-types.ts'
import { formatPlatform, parsePlatform, platformMatches } from '../../core/platform.ts'
import { type Descriptor, type ParsedManifest, parseImageConfig, parseManifest, selectPlatforms } from './image-manifest.ts'
import { type ImageReference, imageReference, parseImageReference, withDefaultTag } from './image-reference.ts'
import { makeLayer } from './layer-reader.ts'
import { type RegistryClient, createRegistryClient } from './registry-client.ts'
import { type CredentialStore, createCredentialStore } from './registry-credentials.ts'
import { type DigestGroup, OTHER_TRANSPORT, planSweep, sweepReference } from './repository-sweep.ts'

const fn = <T>() => z.custom<T>((value) => typeof value === 'function', 'expected a function')

const optionsSchema = z
  .object({
    /** the HTTP client; the Node adapter passes undici's */
    fetch: fn<typeof fetch>().optional(),
    /** per request (LAYERLEAK_HTTP_TIMEOUT) */
    timeoutMs: z.number().int().positive().default(30_000),
    /** how long a blob body may stall (default twice timeoutMs) */
    blobIdleTimeoutMs: z.number().int().positive().optional(),
    /** LAYERLEAK_REGISTRY_REQUEST_ATTEMPTS */
    attempts: z.number().int().min(1).max(20).default(3),
    retryBaseDelayMs: z.number().int().nonnegative().optional(),
    maxRetryDelayMs: z.number().int().nonnegative().optional(),
    /** LAYERLEAK_INSECURE_REGISTRIES: plain HTTP to these hosts (loopback always) */
    insecureRegistries: z
      .array(z.string().min(1))
      .default([])
      // `http://host:5000/` and `host:5000` mean the same host
      .transform((hosts) => hosts.map((host) => host.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase())),
    /** LAYERLEAK_REGISTRY_BASE_URL: Docker Hub's API somewhere else (a mirror, a test server) */
    registryBaseUrl: z.url().optional(),
    /** LAYERLEAK_REGISTRY_AUTH_URL: Docker Hub's token endpoint somewhere else */
    authUrl: z.url().optional(),
    /** credentials for every registry; otherwise ~/.docker/config.json and its helpers */
    username: z.string().optional(),
    password: z.string().optional(),
    /** where config.json lives (default $DOCKER_CONFIG, else ~/.docker) */
    dockerConfigDir: z.string().min(1).optional(),
    /** environment for DOCKER_CONFIG, HOME and credential helpers (default process.env) */
    env: z.record(z.string(), z.string().optional()).optional(),
    /** a ready credential store (replaces username/password/dockerConfigDir) */
    credentials: z.custom<CredentialStore>((value) => !!value && typeof (value as CredentialStore).get === 'function', 'expected { get(registry) }').optional(),
    /** LAYERLEAK_TAG_PAGE_SIZE, for tag listings */
    tagPageSize: z.number().int().min(1).max(10_000).default(100),
    /** manifest requests (HEAD, GET, tag and catalog pages) in flight per registry host */
    maxRequestsPerHost: z.number().int().min(1).max(64).default(4),
    /** at or below this many requests left in a registry's rate-limit window, slow down */
    rateLimitLowRemaining: z.number().int().nonnegative().optional(),
    /** pause between manifest GETs once the quota is low (it grows as the quota runs out) */
    rateLimitSlowDownMs: z.number().int().nonnegative().optional(),
    userAgent: z.string().min(1).optional(),
    /** debug messages: retries, redirects, token requests */
    logger: fn<(message: string) => void>().optional(),
  })
  .strict()
  .refine((options) => options.password === undefined || options.username !== undefined, { message: 'a password needs a username', path: ['password'] })

export type RegistrySourceOptions = z.input<typeof optionsSchema>

const DOCKER_TRANSPORT = /^docker:\/\//

const parseOptions = (input: RegistrySourceOptions) => {
  const parsed = optionsSchema.safeParse(input)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  throw new LayerleakError('INVALID_CONFIG', `registry source: ${issue.path.join('.') || 'options'}: ${issue.message}`)
}

/** Layers go through the layer reader only when they are tar archives the registry may serve. */
const skippedLayerReason = (layer: LayerDescriptor): string | undefined => {
  if (isForeignLayerMediaType(layer.mediaType)) return 'foreign_layer_skipped'
  if (layer.mediaType && !layer.mediaType.includes('tar')) return 'non_tar_layer_skipped'
  return undefined
}

const anySignal = (...signals: (AbortSignal | undefined)[]): AbortSignal | undefined => {
  const present = signals.filter((signal): signal is AbortSignal => !!signal)
  return present.length > 1 ? AbortSignal.any(present) : present[0]
}

interface TargetBase {
  reference: string
  repository: string
  registry: string
  resolvedDigest: string
  resolvedMediaType: string
  tags: string[]
}

export const registrySource = (input: RegistrySourceOptions = {}) => {
  const options = parseOptions(input)
  const credentials =
    options.credentials ??
    createCredentialStore({
      ...(options.username !== undefined ? { username: options.username, password: options.password ?? '' } : {}),
      ...(options.dockerConfigDir ? { dockerConfigDir: options.dockerConfigDir } : {}),
      ...(options.env ? { env: options.env } : {}),
      ...(options.logger ? { onWarning: options.logger } : {}),
    })
  const client: RegistryClient = createRegistryClient({
    ...(options.fetch ? { fetch: options.fetch } : {}),
    timeoutMs: options.timeoutMs,
    ...(options.blobIdleTimeoutMs ? { blobIdleTimeoutMs: options.blobIdleTimeoutMs } : {}),
    attempts: options.attempts,
    ...(options.retryBaseDelayMs !== undefined ? { retryBaseDelayMs: options.retryBaseDelayMs } : {}),
    ...(options.maxRetryDelayMs !== undefined ? { maxRetryDelayMs: options.maxRetryDelayMs } : {}),
    insecureRegistries: options.insecureRegistries,
    ...(options.registryBaseUrl ? { registryBaseUrl: options.registryBaseUrl } : {}),
    ...(options.authUrl ? { authUrl: options.authUrl } : {}),
    ...(options.userAgent ? { userAgent: options.userAgent } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    maxRequestsPerHost: options.maxRequestsPerHost,
    ...(options.rateLimitLowRemaining !== undefined ? { rateLimitLowRemaining: options.rateLimitLowRemaining } : {}),
    ...(options.rateLimitSlowDownMs !== undefined ? { rateLimitSlowDownMs: options.rateLimitSlowDownMs } : {}),
    credentials,
  })

  /** The image config, fetched and parsed on first use, once. */
  const configLoader = (reference: ImageReference, digest: string, { limits, signal }: ResolveOptions): (() => Promise<ImageConfig>) => {
    let config: Promise<ImageConfig> | undefined
    return () => (config ??= client.getBlobBytes(reference, digest, limits.maxConfigBytes, { signal }).then((bytes) => parseImageConfig(bytes, digest)))
  }

  /** One platform image; config and layers are fetched when asked for. */
  const makeTarget = (
    reference: ImageReference,
    base: TargetBase,
    manifest: ManifestInfo,
    parsed: Extract<ParsedManifest, { kind: 'manifest' }>,
    platform: Platform | undefined,
    resolve: ResolveOptions,
    loadConfig = configLoader(reference, parsed.config.digest, resolve),
  ): Target => {
    const { signal, report } = resolve
    const where = `${reference}${platform ? ` (${formatPlatform(platform)})` : ''}`
    const kept: { descriptor: LayerDescriptor; index: number }[] = []
    parsed.layers.forEach((descriptor, index) => {
      const skipped = skippedLayerReason(descriptor)
      if (!skipped) return kept.push({ descriptor, index })
      const from = descriptor.urls?.length ? `, served from ${descriptor.urls[0]}` : ''
      report({ code: skipped, scope: 'layer', subject: descriptor.digest, message: `layer ${index} of ${where} has media type ${descriptor.mediaType}${from}: not scanned` })
    })
    return {
      ...base,
      manifest,
      ...(platform ? { platform } : {}),
      config: loadConfig,
      layers: async () =>
        kept.map(({ descriptor, index }) =>
          makeLayer(descriptor, index, (open) =>
            client.openBlob(reference, descriptor.digest, {
              signal: anySignal(signal, open?.signal),
              expectedSize: descriptor.size,
              ...(open?.offset !== undefined ? { offset: open.offset } : {}),
              ...(open?.onStart ? { onStart: open.onStart } : {}),
            }),
          ),
        ),
    }
  }

  /** A platform manifest that could not be fetched: a target whose config and layers fail with why. */
  const failedTarget = (base: TargetBase, entry: Descriptor, error: unknown): Target => {
    const fail = () => Promise.reject(error)
    return {
      ...base,
      manifest: { mediaType: entry.mediaType, digest: entry.digest, size: entry.size, raw: {} },
      ...(entry.platform ? { platform: entry.platform } : {}),
      config: fail,
      layers: fail,
    }
  }

  async function* resolveIndex(reference: ImageReference, base: TargetBase, manifests: Descriptor[], resolve: ResolveOptions): AsyncIterable<Target> {
    const selected = selectPlatforms(manifests, resolve.platform, resolve.report, reference.toString())
    if (selected.length === 0) throw new LayerleakError('PLATFORM_NOT_FOUND', `${reference} is an index without platform images (only attestations or other artifacts)`)
    for (const entry of selected) {
      let parsed: ParsedManifest
      let fetched
      try {
        fetched = await client.getManifest(reference, entry.digest, { signal: resolve.signal, maxBytes: resolve.limits.maxManifestBytes })
        parsed = parseManifest(fetched.bytes, fetched.mediaType || entry.mediaType, `manifest ${entry.digest} of ${reference}`)
      } catch (error) {
        if (isLayerleakError(error, 'ABORTED') || resolve.signal?.aborted) throw error
        yield failedTarget(base, entry, error)
        continue
      }
      if (parsed.kind === 'index') {
        resolve.report({ code: 'nested_index_skipped', scope: 'target', subject: entry.digest, message: `${reference} lists another index (${entry.digest}) as a platform image: not scanned` })
        continue
      }
      const manifest = { mediaType: parsed.mediaType, digest: fetched.digest, size: fetched.size, raw: parsed.raw }
      yield makeTarget(reference, base, manifest, parsed, entry.platform, resolve)
    }
  }

  /** A tag or digest to its platform images: an index yields each platform, a manifest itself. */
  async function* resolveImage(reference: ImageReference, tags: string[], resolve: ResolveOptions): AsyncIterable<Target> {
    const { limits, signal } = resolve
    const top = await client.getManifest(reference, reference.fetchReference, { signal, maxBytes: limits.maxManifestBytes })
    const parsed = parseManifest(top.bytes, top.mediaType, `manifest ${reference}`)
    const base: TargetBase = {
      reference: reference.toString(),
      repository: reference.name,
      registry: reference.registry,
      resolvedDigest: top.digest,
      resolvedMediaType: parsed.mediaType,
      tags,
    }
    if (parsed.kind === 'index') return yield* resolveIndex(reference, base, parsed.manifests, resolve)

    // a single image says its platform only in its config: read it now (it is needed anyway)
    const manifest = { mediaType: parsed.mediaType, digest: top.digest, size: top.size, raw: parsed.raw }
    const loadConfig = configLoader(reference, parsed.config.digest, resolve)
    // without a platform asked for, a config that fails now fails the target later, not the scan
    const platform = await loadConfig().then((config) => config.platform, (error) => (resolve.platform ? Promise.reject(error) : undefined))
    if (resolve.platform && !platformMatches(parsePlatform(resolve.platform), platform)) {
      throw new LayerleakError('PLATFORM_NOT_FOUND', `${reference} is a single-platform image for ${formatPlatform(platform) || 'an unknown platform'}, not ${resolve.platform}`)
    }
    yield makeTarget(reference, base, manifest, parsed, platform, resolve, loadConfig)
  }

  /**
   * Every digest of the repository, once, as `registry/repository@digest` with all its tags. A
   * digest whose manifest cannot be read becomes a failed target (its tags fail with it); the
   * sweep goes on with the next.
   */
  async function* sweep(repository: ImageReference, resolve: ResolveOptions): AsyncIterable<Target> {
    const groups = await planSweep(repository, resolve, { client, tagPageSize: options.tagPageSize, concurrency: options.maxRequestsPerHost })
    for (const group of groups) {
      const reference = imageReference({ registry: repository.registry, repository: repository.repository, digest: group.digest })
      try {
        yield* resolveImage(reference, group.tags, resolve)
      } catch (error) {
        if (isLayerleakError(error, 'ABORTED') || resolve.signal?.aborted) throw error
        yield failedDigest(reference, group, error)
      }
    }
  }

  /** A digest whose manifest could not be fetched or read: config and layers fail with why. */
  const failedDigest = (reference: ImageReference, group: DigestGroup, error: unknown): Target =>
    failedTarget(
      { reference: reference.toString(), repository: reference.name, registry: reference.registry, resolvedDigest: group.digest, resolvedMediaType: group.mediaType, tags: group.tags },
      { mediaType: group.mediaType, digest: group.digest, size: group.size },
      error,
    )

  return defineSource({
    name: 'registry',
    client,

    accepts(text: string): boolean {
      if (OTHER_TRANSPORT.test(text)) return false
      try {
        parseImageReference(text.replace(DOCKER_TRANSPORT, ''))
        return true
      } catch {
        return false
      }
    },

    async *resolve(text: string, resolve: ResolveOptions): AsyncIterable<Target> {
      const plain = text.replace(DOCKER_TRANSPORT, '')
      if (resolve.allTags) return yield* sweep(sweepReference(plain), resolve)
      const reference = withDefaultTag(parseImageReference(plain))
      yield* resolveImage(reference, reference.tag ? [reference.tag] : [], resolve)
    },

    async close() {},
  })
}
