/**
 * `layerleak detectors list [--format text|json] [--config FILE]`: the detectors a scan would run,
 * built-ins and the config's own (its detectors and gitleaks rule files), with id, name,
 * confidence, keywords and description. Text is a compact table; JSON is an array.
 */
import { defineCommand } from 'citty'
import type { Detector } from '../core/contracts.ts'
import { LayerleakError } from '../core/errors.ts'
import { loadDetection } from './detection-setup.ts'
import { ExitCode } from './exit-codes.ts'
import { runCommand, streamWriter } from './explorer-io.ts'
import { truncate } from './format.ts'
import { loadConfig } from './load-config.ts'

export interface DetectorListing {
  id: string
  name: string
  confidence: Detector['confidence']
  keywords: string[]
  description: string
  /** `built-in`, `config`, or `gitleaks:<file>` */
  origin: string
  binary: boolean
}

export const listingOf = (detectors: readonly Detector[], origins: ReadonlyMap<string, string>): DetectorListing[] =>
  detectors.map((detector) => ({
    id: detector.id,
    name: detector.name,
    confidence: detector.confidence,
    keywords: [...detector.keywords],
    description: detector.description,
    origin: origins.get(detector.id) ?? 'config',
    binary: detector.binary === true,
  }))

const pad = (text: string, width: number): string => text.padEnd(width)

/** ID, CONFIDENCE, KEYWORDS, NAME: one line a detector, then the counts by origin. */
export const renderDetectorTable = (listing: readonly DetectorListing[]): string => {
  const idWidth = Math.min(48, Math.max(2, ...listing.map((detector) => detector.id.length)))
  const lines = [`${pad('ID', idWidth)}  ${pad('CONFIDENCE', 10)}  ${pad('KEYWORDS', 32)}  NAME`]
  for (const detector of listing) {
    const keywords = detector.keywords.length > 0 ? detector.keywords.join(',') : '(every file)'
    lines.push(`${pad(truncate(detector.id, idWidth), idWidth)}  ${pad(detector.confidence, 10)}  ${pad(truncate(keywords, 32), 32)}  ${detector.name}`)
  }
  const counts = new Map<string, number>()
  for (const detector of listing) counts.set(detector.origin, (counts.get(detector.origin) ?? 0) + 1)
  const origins = [...counts].map(([origin, count]) => `${count} ${origin.replace(/^gitleaks:/, 'from gitleaks rules ')}`).join(', ')
  lines.push('', `${listing.length} detectors (${origins})`)
  return `${lines.join('\n')}\n`
}

const listCommand = defineCommand({
  meta: { name: 'list', description: 'list the detectors a scan runs: built-ins, config detectors and gitleaks rules' },
  args: {
    format: { type: 'string', description: 'text | json', default: 'text' },
    config: { type: 'string', description: 'config file (default: layerleak.config.{ts,js,json} in the working directory)' },
  },
  run: ({ args }) =>
    runCommand(async () => {
      if (args.format !== 'text' && args.format !== 'json') throw new LayerleakError('INVALID_ARGUMENT', `--format must be text or json (got "${args.format}")`)
      const { config, path } = await loadConfig(typeof args.config === 'string' ? args.config : undefined)
      const { detectors, origins } = await loadDetection({ config, ...(path ? { configPath: path } : {}) })
      const listing = listingOf(detectors, origins)
      await streamWriter(process.stdout)(args.format === 'json' ? `${JSON.stringify(listing, null, 2)}\n` : renderDetectorTable(listing))
      return ExitCode.clean
    }),
})

export const detectorsCommand = defineCommand({
  meta: { name: 'detectors', description: 'the detector catalog' },
  subCommands: { list: listCommand },
})
