/**
 * Parses what every source reads: indexes (OCI index, Docker manifest list), image manifests (OCI,
 * Docker schema2) and image configs. zod checks the shapes; anything else is a clear
 * INVALID_MANIFEST / UNSUPPORTED_SCHEMA error, never a crash further down.
 */
import { z } from 'zod'
import type { HistoryEntry, ImageConfig, LayerDescriptor, Platform } from '../../core/contracts.ts'
import { isDigest } from '../../core/digest.ts'
import { LayerleakError } from '../../core/errors.ts'
import { isIndexMediaType, isManifestMediaType, isSchema1MediaType, MediaTypes } from '../../core/media-types.ts'
import type { Diagnostic } from '../../core/result.ts'
import { formatPlatform, isRealPlatform, parsePlatform, platformMatches } from '../../core/platform.ts'

const digest = z.string().refine(isDigest, 'not a sha256/sha512 digest')

const platformSchema = z.object({
  os: z.string(),
  architecture: z.string(),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
})

const descriptorSchema = z.object({
  mediaType: z.string().default(''),
  digest,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: platformSchema.optional(),
})

export type Descriptor = z.infer<typeof descriptorSchema>

const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
})

const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
})

export type ParsedManifest =
  | { kind: 'index'; mediaType: string; manifests: Descriptor[]; raw: Record<string, unknown> }
  | { kind: 'manifest'; mediaType: string; config: Descriptor; layers: LayerDescriptor[]; raw: Record<string, unknown> }

const decoder = new TextDecoder()

const parseJson = (bytes: Uint8Array, what: string): Record<string, unknown> => {
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(bytes))
  } catch (cause) {
    throw new LayerleakError('INVALID_MANIFEST', `${what} is not valid JSON`, { cause })
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new LayerleakError('INVALID_MANIFEST', `${what} is not a JSON object`)
  return value as Record<string, unknown>
}

const describeIssues = (error: z.ZodError): string =>
  error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ')

/**
 * Parses a manifest or index. The media type comes from the document itself, else from the HTTP
 * Content-Type (`hint`), else from its shape (`manifests` means index).
 */
export const parseManifest = (bytes: Uint8Array, hint = '', what = 'manifest'): ParsedManifest => {
  const raw = parseJson(bytes, what)
  const declared = typeof raw.mediaType === 'string' ? raw.mediaType : ''
  const contentType = hint.split(';')[0].trim()
  if (raw.schemaVersion === 1 || isSchema1MediaType(declared) || isSchema1MediaType(contentType)) {
    throw new LayerleakError(
      'UNSUPPORTED_SCHEMA',
      `${what} is a Docker schema1 manifest, which is deprecated and not supported: re-push the image with a current Docker or buildx`,
    )
  }
  const mediaType =
    declared ||
    (isIndexMediaType(contentType) || isManifestMediaType(contentType) ? contentType : '') ||
    (Array.isArray(raw.manifests) ? MediaTypes.ociIndex : MediaTypes.ociManifest)
  if (isIndexMediaType(mediaType) || (Array.isArray(raw.manifests) && !('config' in raw))) {
    const parsed = indexSchema.safeParse(raw)
    if (!parsed.success) throw new LayerleakError('INVALID_MANIFEST', `${what} is not a valid image index: ${describeIssues(parsed.error)}`)
    return { kind: 'index', mediaType, manifests: parsed.data.manifests, raw }
  }
  if (!isManifestMediaType(mediaType)) {
    throw new LayerleakError('UNSUPPORTED_MEDIA_TYPE', `${what} has media type "${mediaType}", which is not an image manifest or index`)
  }
  const parsed = manifestSchema.safeParse(raw)
  if (!parsed.success) throw new LayerleakError('INVALID_MANIFEST', `${what} is not a valid image manifest: ${describeIssues(parsed.error)}`)
  const layers = parsed.data.layers.map(({ mediaType, digest, size, urls, annotations }) => ({
    mediaType,
    digest,
    size,
    ...(urls ? { urls } : {}),
    ...(annotations ? { annotations } : {}),
  }))
  return { kind: 'manifest', mediaType, config: parsed.data.config, layers, raw }
}

/** An index entry that is an attestation or another non-image artifact, not a platform. */
export const isAttestation = (entry: Descriptor): boolean =>
  entry.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || !isRealPlatform(entry.platform ?? { os: 'unknown', architecture: 'unknown' })

/**
 * The index entries to scan: real platforms only (attestations reported, not counted), narrowed
 * to `wanted` when given. PLATFORM_NOT_FOUND lists what the index does have.
 */
export const selectPlatforms = (
  manifests: Descriptor[],
  wanted: string | undefined,
  report: (diagnostic: Diagnostic) => void,
  subject: string,
): Descriptor[] => {
  const images: Descriptor[] = []
  for (const entry of manifests) {
    if (isAttestation(entry)) {
      report({
        code: 'attestation_skipped',
        scope: 'target',
        subject: entry.digest,
        message: `skipped ${entry.annotations?.['vnd.docker.reference.type'] ?? 'non-platform'} manifest ${entry.digest} in ${subject}`,
      })
      continue
    }
    images.push(entry)
  }
  if (!wanted) return images
  const want = parsePlatform(wanted)
  const chosen = images.filter((entry) => platformMatches(want, entry.platform))
  if (chosen.length === 0) {
    const available = images.map((entry) => formatPlatform(entry.platform)).join(', ') || 'none'
    throw new LayerleakError('PLATFORM_NOT_FOUND', `${subject} has no ${wanted} image (available: ${available})`)
  }
  // several variants can match a variant-less request: keep the first, as docker pull does
  return [chosen[0]]
}

const configSchema = z.object({
  architecture: z.string().optional(),
  os: z.string().optional(),
  variant: z.string().optional(),
  config: z
    .object({
      Env: z.array(z.string()).nullish(),
      Labels: z.record(z.string(), z.string()).nullish(),
      Cmd: z.array(z.string()).nullish(),
      Entrypoint: z.array(z.string()).nullish(),
      User: z.string().nullish(),
      WorkingDir: z.string().nullish(),
      ExposedPorts: z.record(z.string(), z.unknown()).nullish(),
      Volumes: z.record(z.string(), z.unknown()).nullish(),
      StopSignal: z.string().nullish(),
    })
    .nullish(),
  rootfs: z.object({ type: z.string().optional(), diff_ids: z.array(z.string()).nullish() }).nullish(),
  history: z
    .array(
      z.object({
        created: z.string().nullish(),
        created_by: z.string().nullish(),
        comment: z.string().nullish(),
        author: z.string().nullish(),
        empty_layer: z.boolean().nullish(),
      }),
    )
    .nullish(),
})

/** Parses an image config (OCI or Docker) into the fields the scanner reads; `raw` keeps all of it. */
export const parseImageConfig = (bytes: Uint8Array, configDigest: string): ImageConfig => {
  const raw = parseJson(bytes, `config ${configDigest}`)
  const parsed = configSchema.safeParse(raw)
  if (!parsed.success) throw new LayerleakError('INVALID_MANIFEST', `config ${configDigest} is not a valid image config: ${describeIssues(parsed.error)}`)
  const data = parsed.data
  const config = data.config ?? {}
  const platform: Platform | undefined =
    data.os && data.architecture ? { os: data.os, architecture: data.architecture, ...(data.variant ? { variant: data.variant } : {}) } : undefined
  const history: HistoryEntry[] = (data.history ?? []).map((entry) => ({
    ...(entry.created ? { created: entry.created } : {}),
    ...(entry.created_by ? { created_by: entry.created_by } : {}),
    ...(entry.comment ? { comment: entry.comment } : {}),
    ...(entry.author ? { author: entry.author } : {}),
    empty_layer: entry.empty_layer === true,
  }))
  return {
    digest: configDigest,
    raw,
    ...(platform ? { platform } : {}),
    env: config.Env ?? [],
    labels: config.Labels ?? {},
    cmd: config.Cmd ?? [],
    entrypoint: config.Entrypoint ?? [],
    user: config.User ?? '',
    workingDir: config.WorkingDir ?? '',
    exposedPorts: Object.keys(config.ExposedPorts ?? {}),
    volumes: Object.keys(config.Volumes ?? {}),
    stopSignal: config.StopSignal ?? '',
    history,
    diffIds: data.rootfs?.diff_ids ?? [],
  }
}

export { buildStepsForLayers } from '../../core/build-steps.ts'
