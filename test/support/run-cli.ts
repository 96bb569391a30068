/**
 * Runs the real `layerleak` bin (the built dist/cli/main.js) under Node, Bun or Deno, as users
 * do. Bun and Deno come from npm as dev dependencies.
 */
import { spawn } from 'node:child_process'
import { resolve } from 'node:path'

export type Runtime = 'node' | 'bun' | 'deno'

const root = resolve(import.meta.dirname, '../..')
const bin = resolve(root, 'dist/cli/main.js')

/** The command line that runs `script` (default: the layerleak bin) under a runtime. */
export const commandFor = (runtime: Runtime, script = bin): string[] => {
  if (runtime === 'bun') return [resolve(root, 'node_modules/.bin/bun'), script]
  if (runtime === 'deno') return [resolve(root, 'node_modules/.bin/deno'), 'run', '-A', '--quiet', script]
  return [process.execPath, script]
}

export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

type RunOptions = { env?: Record<string, string>; cwd?: string; input?: string; timeoutMs?: number }

export const runCli = (runtime: Runtime, args: string[], options: RunOptions = {}): Promise<CliRun> => runScript(runtime, bin, args, options)

/** Runs a script file (JavaScript the runtime loads as it is) under Node, Bun or Deno. */
export const runScript = (runtime: Runtime, script: string, args: string[], options: RunOptions = {}): Promise<CliRun> =>
  new Promise((done, fail) => {
    const [command, ...prefix] = commandFor(runtime, script)
    const child = spawn(command, [...prefix, ...args], {
      cwd: options.cwd ?? root,
      env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      fail(new Error(`${runtime} ${args.join(' ')} timed out\n${stderr}`))
    }, options.timeoutMs ?? 60_000)
    child.on('error', fail)
    child.on('close', (code) => {
      clearTimeout(timer)
      done({ code: code ?? -1, stdout, stderr })
    })
    child.stdin.end(options.input ?? '')
  })
