/**
 * A real OCI registry for the tests: Debian's `docker-registry` (the CNCF distribution server) on a
 * loopback port, storing in a temp dir. `.ci/run` installs the package; here a missing binary is a
 * loud failure, never a skip.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface RunningRegistry {
  /** `127.0.0.1:PORT`, the host part of image references */
  host: string
  url: string
  stop(): Promise<void>
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const registryBinary = (): string => {
  const found = spawnSync('sh', ['-c', 'command -v docker-registry || command -v registry'], { encoding: 'utf8' }).stdout.trim()
  if (!found) {
    throw new Error('docker-registry is not installed: run `apt-get install -y docker-registry` (.ci/run does this)')
  }
  return found
}

export const startRegistry = async (): Promise<RunningRegistry> => {
  const binary = registryBinary()
  const dir = await mkdtemp(join(tmpdir(), 'layerleak-registry-'))
  const port = await freePort()
  const config = join(dir, 'config.yml')
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  )
  const child: ChildProcess = spawn(binary, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000)
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 15_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr}`)
    try {
      const response = await fetch(`${url}/v2/`)
      if (response.status === 200) break
    } catch {}
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`docker-registry did not answer on ${url} within 15s: ${stderr}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    async stop() {
      child.kill('SIGTERM')
      await new Promise((resolve) => setTimeout(resolve, 50))
      await rm(dir, { recursive: true, force: true })
    },
  }
}
