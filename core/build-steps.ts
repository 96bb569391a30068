import type { HistoryEntry } from './contracts.ts'

/**
 * The history step that produced each layer: the non-empty history entries, in order (the
 * image-spec rule). When history and layers disagree in count, unmatched layers get ''.
 */
export const buildStepsForLayers = (history: HistoryEntry[], layerCount: number): string[] => {
  const steps = history.filter((entry) => !entry.empty_layer).map((entry) => entry.created_by ?? entry.comment ?? '')
  return Array.from({ length: layerCount }, (_, i) => steps[i] ?? '')
}

/** The step that set an env var or label, e.g. `ENV API_TOKEN=...`: the first history entry naming `name=`. */
export const buildStepSetting = (history: HistoryEntry[], name: string): string =>
  history.find((entry) => entry.created_by?.includes(`${name}=`))?.created_by ?? ''
