/**
 * `layerleak baseline create --from result.json [-o baseline.json]`: a baseline of every finding
 * (actionable and suppressed) in a findings file, so later scans with `--baseline` or the config's
 * `baseline` report only what is new. The file holds fingerprints, never secrets.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { defineCommand } from 'citty'
import { LayerleakError } from '../core/errors.ts'
import { createBaseline } from '../plugins/filters/baseline.ts'
import { ExitCode } from './exit-codes.ts'
import { runCommand, streamWriter } from './explorer-io.ts'

const readFindingsFile = async (path: string): Promise<unknown> => {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new LayerleakError('INVALID_ARGUMENT', `cannot read ${path}: ${(cause as Error).message}`, { cause })
  }
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new LayerleakError('INVALID_ARGUMENT', `${path} is not JSON: ${(cause as Error).message}`, { cause })
  }
}

const createCommand = defineCommand({
  meta: { name: 'create', description: 'write a baseline from a findings file (scan --format json, or the file under findings/)' },
  args: {
    from: { type: 'string', description: 'the findings file to take the fingerprints from', required: true },
    output: { type: 'string', alias: 'o', description: 'where to write the baseline (default: stdout)' },
  },
  run: ({ args }) =>
    runCommand(async () => {
      const baseline = createBaseline(await readFindingsFile(args.from), new Date(), args.from)
      const text = `${JSON.stringify(baseline, null, 2)}\n`
      if (typeof args.output === 'string' && args.output !== '-') {
        await writeFile(args.output, text)
        process.stderr.write(`layerleak: baseline of ${baseline.fingerprints.length} finding(s) written to ${args.output}\n`)
      } else await streamWriter(process.stdout)(text)
      return ExitCode.clean
    }),
})

export const baselineCommand = defineCommand({
  meta: { name: 'baseline', description: 'accept the findings of a scan, so later scans report only new ones' },
  subCommands: { create: createCommand },
})
