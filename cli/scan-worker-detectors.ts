/**
 * What a scan worker loads when the config brings its own detectors (plugins/workers/
 * file-scan-pool.ts, `detectorsFrom`): the config file again, composed with the built-ins and its
 * gitleaks rules exactly as the command composed them, so the worker's detectors are the same.
 */
import type { Detector } from '../core/contracts.ts'
import { loadDetection } from './detection-setup.ts'
import { loadConfig } from './load-config.ts'

export interface WorkerDetectorOptions {
  /** the config file the command loaded (absolute) */
  configPath: string
  cwd: string
}

export default async ({ configPath, cwd }: WorkerDetectorOptions): Promise<Detector[]> => {
  const { config } = await loadConfig(configPath, cwd)
  return (await loadDetection({ config, configPath, cwd })).detectors
}
