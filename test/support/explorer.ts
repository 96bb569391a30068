/**
 * Fixture plumbing for the explorer specs: push a built image to the test registry (or write it as
 * an OCI layout) and resolve it with the real sources, as the commands do.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inject } from 'vitest'
import type { Source, Target } from '../../core/contracts.ts'
import { defaultLimits } from '../../core/limits.ts'
import { resolveTarget, resolveTargets } from '../../cli/explorer-target.ts'
import type { BuiltImage, BuiltIndex } from '../../plugins/sources/image-builder.ts'
import { ociLayoutSource } from '../../plugins/sources/oci-layout.ts'
import { writeOciLayout } from '../../plugins/sources/oci-layout-writer.ts'
import { registrySource } from '../../plugins/sources/registry.ts'
import { pushImage, uniqueRepository } from './push.ts'

export const testSources = (): Source[] => [ociLayoutSource(), registrySource({ attempts: 1 })]

/** Pushes the image under a fresh repository and returns `host/repo:tag`. */
export const pushFixture = async (built: BuiltImage | BuiltIndex, name: string, host = inject('registryHost')): Promise<string> => {
  const repository = uniqueRepository(name)
  await pushImage(inject('registryHost'), repository, built, ['test'])
  return `${host}/${repository}:test`
}

/** Writes the image as an OCI layout in a temp dir and returns `oci:<dir>:test`. */
export const layoutFixture = async (built: BuiltImage | BuiltIndex): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'layerleak-explorer-'))
  await writeOciLayout(dir, built, { tag: 'test' })
  return `oci:${dir}:test`
}

export const targetOf = (reference: string, platform?: string, sources = testSources()): Promise<Target> =>
  resolveTarget(reference, { sources, limits: defaultLimits, ...(platform ? { platform } : {}) })

export const targetsOf = (reference: string, sources = testSources()): Promise<Target[]> => resolveTargets(reference, { sources, limits: defaultLimits })
