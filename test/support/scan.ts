/**
 * Scans fixture images the way the CLI does (built-in catalog and filters), from an OCI layout on
 * disk or from the test registry.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FileScanPool } from '../../core/contracts.ts'
import type { Limits } from '../../core/limits.ts'
import type { ArchiveLimits } from '../../core/nested-archives.ts'
import type { ScanResult } from '../../core/result.ts'
import { scanReference } from '../../core/scan.ts'
import { builtinDetectors } from '../../plugins/detectors/catalog.ts'
import { fixturesFilter } from '../../plugins/filters/fixtures.ts'
import type { BuiltImage, BuiltIndex } from '../../plugins/sources/image-builder.ts'
import { builtinArchiveReaders } from '../../plugins/sources/nested-archives.ts'
import { dockerArchiveSource } from '../../plugins/sources/docker-archive.ts'
import { ociLayoutSource } from '../../plugins/sources/oci-layout.ts'
import { writeOciLayout } from '../../plugins/sources/oci-layout-writer.ts'
import { registrySource } from '../../plugins/sources/registry.ts'

export interface ScanFixtureOptions {
  limits?: Partial<Limits>
  archiveLimits?: Partial<ArchiveLimits>
  persistRawSecrets?: boolean
  platform?: string
  fileScanPool?: FileScanPool
}

export const scanWithBuiltins = (reference: string, options: ScanFixtureOptions = {}): Promise<ScanResult> =>
  scanReference({
    reference,
    sources: [ociLayoutSource(), dockerArchiveSource(), registrySource({ retryBaseDelayMs: 10 })],
    detectors: builtinDetectors,
    filters: [fixturesFilter()],
    archiveReaders: builtinArchiveReaders,
    ...options,
  })

/** Writes the image as an OCI layout in a temp dir and scans it. */
export const scanImageFromLayout = async (image: BuiltImage | BuiltIndex, options: ScanFixtureOptions = {}): Promise<ScanResult> => {
  const dir = await mkdtemp(join(tmpdir(), 'layerleak-fixture-'))
  await writeOciLayout(dir, image, { tag: 'test' })
  return scanWithBuiltins(`oci:${dir}:test`, options)
}

/** Every occurrence of every finding, actionable and suppressed. */
export const occurrencesOf = (result: ScanResult) =>
  [...result.findings, ...result.suppressed_findings].flatMap((finding) => finding.occurrences.map((occurrence) => ({ ...occurrence, finding })))
