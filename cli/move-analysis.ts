/**
 * What a tag move left behind, asked of the registry: both images' manifests (every platform of an
 * index; attestations are not platforms), the layers the old one had and the new one has not
 * (core/zombie-layers.ts decides), and for those, the build step that wrote each one, from the old
 * image's config. Manifests never change once addressed by digest: a watch keeps them parsed.
 */
import { mapConcurrent } from '../core/concurrency.ts'
import type { Limits } from '../core/limits.ts'
import type { Diagnostic } from '../core/result.ts'
import { isLayerleakError, toLayerleakError } from '../core/errors.ts'
import { formatPlatform } from '../core/platform.ts'
import { type ImageLayers, stillTaggedAs, type ZombieCandidate, zombieCandidates } from '../core/zombie-layers.ts'
import { buildStepsForLayers, type ParsedManifest, parseImageConfig, parseManifest, selectPlatforms } from '../plugins/sources/image-manifest.ts'
import { type ImageReference, imageReference } from '../plugins/sources/image-reference.ts'
import type { RegistryClient } from '../plugins/sources/registry-client.ts'

/** manifests of other tags' images fetched at once, to learn which layers they still use */
const OTHER_IMAGES_AT_ONCE = 4

export type DescribedZombie = ZombieCandidate & { buildStep: string }

export interface MoveAnalysisContext {
  client: RegistryClient
  /** the repository */
  repository: ImageReference
  limits: Limits
  /** parsed manifests by digest, kept across moves and passes */
  manifests: Map<string, Promise<ParsedManifest>>
  signal?: AbortSignal
  report: (diagnostic: Diagnostic) => void
}

/** The outcome of a move for good: its zombie layers, or a note saying why there are none. */
export interface MoveAnalysis {
  note?: string
  zombies: DescribedZombie[]
}

type ImageWithConfig = ImageLayers & { configDigest: string }

const isAbort = (error: unknown, signal: AbortSignal | undefined) => signal?.aborted === true || isLayerleakError(error, 'ABORTED')

/**
 * The move's zombie layers. Throws when the registry could not answer (the caller tries again on a
 * later pass); a manifest the registry no longer has is an answer, given as a note.
 */
export const analyseMove = async (move: { tag: string; oldDigest: string; newDigest: string }, currentTags: ReadonlyMap<string, string>, context: MoveAnalysisContext): Promise<MoveAnalysis> => {
  const { client, repository, limits, signal } = context
  const at = (digest: string) => imageReference({ registry: repository.registry, repository: repository.repository, digest })
  const manifestOf = (digest: string): Promise<ParsedManifest> => {
    let pending = context.manifests.get(digest)
    if (!pending) {
      pending = client
        .getManifest(at(digest), digest, { ...(signal ? { signal } : {}), maxBytes: limits.maxManifestBytes })
        .then((fetched) => parseManifest(fetched.bytes, fetched.mediaType, `manifest ${repository.name}@${digest}`))
      context.manifests.set(digest, pending)
      // a failure is not remembered: the next pass asks again
      pending.catch(() => context.manifests.delete(digest))
    }
    return pending
  }
  const imagesOf = async (digest: string): Promise<ImageWithConfig[]> => {
    const top = await manifestOf(digest)
    if (top.kind === 'manifest') return [{ manifestDigest: digest, platform: '', configDigest: top.config.digest, layers: top.layers }]
    const images: ImageWithConfig[] = []
    for (const entry of selectPlatforms(top.manifests, undefined, () => {}, `${repository.name}@${digest}`)) {
      const parsed = await manifestOf(entry.digest)
      if (parsed.kind === 'manifest') images.push({ manifestDigest: entry.digest, platform: formatPlatform(entry.platform), configDigest: parsed.config.digest, layers: parsed.layers })
    }
    return images
  }
  /** a manifest the registry no longer has: undefined */
  const imagesOrGone = async (digest: string): Promise<ImageWithConfig[] | undefined> => {
    try {
      return await imagesOf(digest)
    } catch (error) {
      if (!isAbort(error, signal) && isLayerleakError(error, 'NOT_FOUND')) return undefined
      throw error
    }
  }

  const taggedAs = stillTaggedAs(move.oldDigest, currentTags, move.tag)
  if (taggedAs) return { note: `the old image is still tagged ${taggedAs}: none of its layers is orphaned`, zombies: [] }
  const old = await imagesOrGone(move.oldDigest)
  if (!old) return { note: 'the old manifest is gone from the registry: its layers cannot be listed', zombies: [] }
  const fresh = await imagesOrGone(move.newDigest)
  if (!fresh) return { note: 'the new manifest is gone from the registry (the tag moved again): a later move covers it', zombies: [] }
  // a layer another tag's current image still uses is not orphaned either (a shared base, a layer
  // that moved to another tag): those images are asked for only when the move left layers behind
  let { candidates, skipped } = zombieCandidates(old, fresh)
  if (candidates.length > 0) {
    const others = [...new Set(currentTags.values())].filter((digest) => digest !== move.newDigest && digest !== move.oldDigest)
    const inUse = (await mapConcurrent(others, OTHER_IMAGES_AT_ONCE, imagesOrGone)).flatMap((images) => images ?? [])
    if (inUse.length > 0) ({ candidates, skipped } = zombieCandidates(old, [...fresh, ...inUse]))
    if (candidates.length === 0) return { note: 'every layer the new image dropped is still in the image of another tag', zombies: [] }
  }
  for (const layer of skipped) {
    context.report({ code: 'zombie_layer_skipped', scope: 'layer', subject: layer.digest, message: `layer ${layer.digest} of ${move.oldDigest} (${layer.mediaType}) is orphaned but not scanned: ${layer.reason}` })
  }
  if (candidates.length === 0) return { note: 'every layer of the old image is still in the new one', zombies: [] }

  // the build step of each zombie, and the platform of a single-platform image, from the old config
  const zombies: DescribedZombie[] = []
  for (const image of old) {
    const mine = candidates.filter((candidate) => candidate.sourceManifestDigest === image.manifestDigest)
    if (mine.length === 0) continue
    let steps: string[] = []
    let platform = image.platform
    try {
      const config = parseImageConfig(await client.getBlobBytes(at(image.configDigest), image.configDigest, limits.maxConfigBytes, signal ? { signal } : {}), image.configDigest)
      steps = buildStepsForLayers(config.history, image.layers.length)
      platform ||= formatPlatform(config.platform)
    } catch (error) {
      if (isAbort(error, signal)) throw error
      context.report({ code: 'config_failed', scope: 'target', subject: image.configDigest, message: `the config of ${image.manifestDigest} could not be read (build steps unknown): ${toLayerleakError(error).message}` })
    }
    for (const candidate of mine) zombies.push({ ...candidate, platform: candidate.platform || platform, buildStep: steps[candidate.layerIndex] ?? '' })
  }
  return { zombies }
}
