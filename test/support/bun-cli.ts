/**
 * `layerleak ARGS` as a user runs it, with Bun running the TypeScript sources directly (no build
 * needed), in a chosen working directory.
 */
import { spawn } from 'node:child_process'
import { join, resolve } from 'node:path'

const repoRoot = resolve(import.meta.dirname, '../..')
const bun = join(repoRoot, 'node_modules/.bin/bun')

export interface BunRun {
  code: number | null
  stdout: string
  stderr: string
}

export const layerleak = (args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<BunRun> =>
  new Promise((done, fail) => {
    const child = spawn(bun, [join(repoRoot, 'cli/main.ts'), ...args], {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk
    })
    child.on('error', fail)
    child.on('close', (code) => done({ code, stdout, stderr }))
  })

/** the repository's library entry, for configs written by tests (users import it as 'layerleak') */
export const libraryEntry = join(repoRoot, 'index.ts')
