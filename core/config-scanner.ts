/**
 * The image config as scan input: env, labels, history steps and the runtime fields (cmd,
 * entrypoint, user, workdir). Build args and tokens land here more often than people expect.
 */
import { buildStepSetting } from './build-steps.ts'
import type { ImageConfig } from './contracts.ts'
import type { SourceType } from './result.ts'
import type { RawMatch, TextScanner } from './text-scanner.ts'

export interface ConfigMatch extends RawMatch {
  sourceType: SourceType
  /** the history step the value belongs to, when one can be named */
  buildStep: string
  /** `env API_TOKEN`, `history[3]`, `config Cmd` */
  location: string
}

const splitAssignment = (text: string): [string, string] => {
  const eq = text.indexOf('=')
  return eq === -1 ? [text, ''] : [text.slice(0, eq), text.slice(eq + 1)]
}

export const scanImageConfig = (config: ImageConfig, scanner: TextScanner): ConfigMatch[] => {
  const found: ConfigMatch[] = []
  const scan = (text: string, sourceType: SourceType, key: string, buildStep: string, location: string) => {
    if (!text) return
    for (const match of scanner.scanText(text, { sourceType, path: '', key })) {
      found.push({ ...match, sourceType, buildStep, location })
    }
  }
  for (const entry of config.env) {
    const [name] = splitAssignment(entry)
    scan(entry, 'env', name, buildStepSetting(config.history, name), `env ${name}`)
  }
  for (const [name, value] of Object.entries(config.labels)) {
    scan(`${name}=${value}`, 'label', name, buildStepSetting(config.history, name), `label ${name}`)
  }
  config.history.forEach((entry, i) => {
    const step = entry.created_by ?? ''
    scan(step, 'history', `history[${i}]`, step, `history[${i}] created_by`)
    if (entry.comment) scan(entry.comment, 'history', `history[${i}].comment`, step, `history[${i}] comment`)
  })
  const fields: [string, string][] = [
    ['Cmd', config.cmd.join(' ')],
    ['Entrypoint', config.entrypoint.join(' ')],
    ['User', config.user],
    ['WorkingDir', config.workingDir],
  ]
  for (const [field, value] of fields) scan(value, 'config', field, '', `config ${field}`)
  return found
}
