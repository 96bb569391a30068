/**
 * `layerleak serve` as users run it: the built bin under Node, Bun or Deno, on a free port
 * (LAYERLEAK_API_ADDR=127.0.0.1:0; the bound address is read from the line it prints), with its
 * own embedded database in a temp dir unless the env names a server database. `stop()` sends
 * SIGTERM and reports how the process ended, so tests can hold it to a clean shutdown.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Runtime } from './run-cli.ts'

const root = resolve(import.meta.dirname, '../..')
const bin = resolve(root, 'dist/cli/main.js')

const commandFor = (runtime: Runtime): string[] => {
  if (runtime === 'bun') return [resolve(root, 'node_modules/.bin/bun'), bin]
  if (runtime === 'deno') return [resolve(root, 'node_modules/.bin/deno'), 'run', '-A', '--quiet', bin]
  return [process.execPath, bin]
}

export interface ApiServer {
  runtime: Runtime
  /** `http://127.0.0.1:PORT` */
  url: string
  stdout(): string
  stderr(): string
  /** SIGTERM, then the exit: code and signal, and how long it took */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>
}

/** Spawns `serve` and waits for it to listen (or fails with what it printed). */
export const startApiServer = async (runtime: Runtime, env: Record<string, string> = {}, timeoutMs = 60_000): Promise<ApiServer> => {
  const dataDir = await mkdtemp(join(tmpdir(), `layerleak-serve-${runtime}-`))
  const [command, ...prefix] = commandFor(runtime)
  const child: ChildProcess = spawn(command, [...prefix, 'serve'], {
    cwd: dataDir,
    env: {
      ...process.env,
      NO_COLOR: '1',
      DENO_NO_UPDATE_CHECK: '1',
      LAYERLEAK_API_ADDR: '127.0.0.1:0',
      LAYERLEAK_DATA_DIR: join(dataDir, 'data'),
      LAYERLEAK_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk) => (stdout += chunk))
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('exit', (code, signal) => done({ code, signal })))

  const url = await new Promise<string>((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`${runtime} serve did not listen within ${timeoutMs}ms\nstdout: ${stdout}\nstderr: ${stderr}`)), timeoutMs)
    const look = () => {
      const match = /listening on (http:\/\/[^\s]+)/.exec(stdout)
      if (match) {
        clearTimeout(timer)
        ready(match[1])
      }
    }
    child.stdout?.on('data', look)
    void exited.then(({ code, signal }) => {
      clearTimeout(timer)
      fail(new Error(`${runtime} serve exited (${code ?? signal}) before listening\nstdout: ${stdout}\nstderr: ${stderr}`))
    })
  })

  return {
    runtime,
    url,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop() {
      const started = Date.now()
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      const outcome = await exited
      clearTimeout(timer)
      await rm(dataDir, { recursive: true, force: true })
      return { ...outcome, ms: Date.now() - started }
    },
  }
}

/** `serve` run to its end (for start-up failures): exit code and output. */
export const runServeToExit = async (runtime: Runtime, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> => {
  const [command, ...prefix] = commandFor(runtime)
  const dataDir = await mkdtemp(join(tmpdir(), 'layerleak-serve-'))
  try {
    return await new Promise((done, fail) => {
      const child = spawn(command, [...prefix, 'serve'], {
        cwd: dataDir,
        env: { ...process.env, NO_COLOR: '1', LAYERLEAK_API_ADDR: '127.0.0.1:0', LAYERLEAK_DATA_DIR: join(dataDir, 'data'), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk) => (stdout += chunk))
      child.stderr.on('data', (chunk) => (stderr += chunk))
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        fail(new Error(`serve did not exit\nstdout: ${stdout}\nstderr: ${stderr}`))
      }, 30_000)
      child.on('exit', (code) => {
        clearTimeout(timer)
        done({ code, stdout, stderr })
      })
    })
  } finally {
    await rm(dataDir, { recursive: true, force: true })
  }
}
