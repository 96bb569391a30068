/**
 * `layerleak demo`: works offline, on a fresh machine. Builds a small image by code with clearly
 * fake secrets generated on the spot (one deleted by a later layer, one in the image env, one
 * under a test path), writes it as an OCI layout in a temp dir, scans it and explains the output.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defineCommand } from 'citty'
import { writeOciLayout } from '../plugins/sources/oci-layout-writer.ts'
import { buildDemoImage } from './demo-image.ts'
import { describeError, ExitCode } from './exit-codes.ts'
import { runScan } from './scan.ts'

const EXPLANATIONS = `
What the findings mean:
  deleted or replaced by a later layer: a build step removed the file, so a running container does not
    show it, but the layer still holds it and anyone who pulls the image can read it back out.
  in the image env/label/history/config: \`docker inspect\` or the registry's config blob shows it to
    anyone who can pull the image; nothing has to be unpacked.
  in the final filesystem: the file is there in every container started from the image.
  suppressed: the match sits in a test fixture, an example or a placeholder; it is kept for review
    with the reason, but does not count as actionable and does not fail the scan.
`

export const demoCommand = defineCommand({
  meta: { name: 'demo', description: 'build a small image with fake secrets offline, scan it, and explain the findings' },
  args: {
    'findings-dir': { type: 'string', description: 'where the findings file goes (default: findings/)' },
  },
  async run({ args }) {
    const dir = await mkdtemp(join(tmpdir(), 'layerleak-demo-'))
    try {
      await writeOciLayout(dir, await buildDemoImage(), { tag: 'demo' })
      process.stderr.write(`Built a demo image with fake secrets in ${dir} (OCI layout); scanning it…\n\n`)
      const { result } = await runScan({ reference: `oci:${dir}:demo`, format: 'summary', 'fail-on': 'never', ...(args['findings-dir'] ? { 'findings-dir': args['findings-dir'] } : {}) })
      process.stdout.write(EXPLANATIONS)
      process.exitCode = result.status === 'completed' ? ExitCode.clean : ExitCode.error
    } catch (error) {
      process.stderr.write(`layerleak: ${describeError(error).message}\n`)
      process.exitCode = ExitCode.error
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  },
})
