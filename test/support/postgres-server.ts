/**
 * A real PostgreSQL for the tests: Debian's `postgresql` binaries, a throw-away cluster in a temp dir,
 * listening on 127.0.0.1 and a free port, with fsync off (the data dies with the test run anyway).
 * PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user (or
 * `nobody`) and the processes are spawned with that uid. A missing binary is a loud failure, never
 * a skip: `apt-get install postgresql` (.ci/run does this).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { chown, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { freePort } from './registry-server.ts'

export interface RunningPostgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`: the maintenance database, for CREATE DATABASE */
  url: string
  stop(): Promise<void>
}

const binDir = (): string => {
  const fromConfig = spawnSync('sh', ['-c', 'pg_config --bindir 2>/dev/null'], { encoding: 'utf8' }).stdout.trim()
  const candidates = [
    ...(fromConfig ? [fromConfig] : []),
    // Debian keeps the server binaries off PATH, one directory per major version: newest first
    ...(existsSync('/usr/lib/postgresql')
      ? readdirSync('/usr/lib/postgresql')
          .filter((version) => /^\d+$/.test(version))
          .sort((a, b) => Number(b) - Number(a))
          .map((version) => `/usr/lib/postgresql/${version}/bin`)
      : []),
  ]
  const found = candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres')))
  if (found) return found
  const onPath = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim()
  if (onPath) return onPath.replace(/\/initdb$/, '')
  throw new Error('PostgreSQL is not installed (no initdb/postgres binaries): run `apt-get install -y postgresql` (.ci/run does this)')
}

/** The uid/gid to run PostgreSQL as: ourselves, or an unprivileged user when we are root. */
const serverUser = (): { uid: number; gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined
  for (const name of ['postgres', 'nobody']) {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith(`${name}:`))
    if (line) {
      const [, , uid, gid] = line.split(':')
      return { uid: Number(uid), gid: Number(gid) }
    }
  }
  throw new Error('running as root and found neither a `postgres` nor a `nobody` user to run PostgreSQL as')
}

const run = (command: string, args: string[], user: { uid: number; gid: number } | undefined): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' }, ...user })
    let output = ''
    child.stdout.on('data', (chunk) => (output = (output + chunk).slice(-4000)))
    child.stderr.on('data', (chunk) => (output = (output + chunk).slice(-4000)))
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}: ${output}`))))
  })

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export const startPostgres = async (): Promise<RunningPostgres> => {
  const bin = binDir()
  const user = serverUser()
  const dir = await mkdtemp(join(tmpdir(), 'layerleak-postgres-'))
  if (user) await chown(dir, user.uid, user.gid)
  const data = join(dir, 'data')
  await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync'], user)
  const port = await freePort()
  const settings = ['listen_addresses=127.0.0.1', `port=${port}`, `unix_socket_directories=${dir}`, 'fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'max_connections=200']
  const child: ChildProcess = spawn(join(bin, 'postgres'), ['-D', data, ...settings.flatMap((setting) => ['-c', setting])], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
    ...user,
  })
  let stderr = ''
  child.stderr?.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)))
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}: ${stderr}`)
    const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} })
    try {
      await sql`select 1`
      break
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL')
        throw new Error(`postgres did not accept connections on ${url} within 20s: ${stderr}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    } finally {
      await sql.end({ timeout: 1 })
    }
  }
  return {
    url,
    async stop() {
      // SIGINT is PostgreSQL's fast shutdown: disconnect everyone, no checkpoint wait worth the name
      if (child.pid && alive(child.pid)) {
        child.kill('SIGINT')
        const until = Date.now() + 10_000
        while (alive(child.pid) && child.exitCode === null && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50))
        if (child.exitCode === null) child.kill('SIGKILL')
      }
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** A fresh, empty database on the test server (one per test file, so files run in parallel). Returns its URL. */
export const createTestDatabase = async (serverUrl: string): Promise<string> => {
  const name = `t_${randomBytes(6).toString('hex')}`
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {} })
  try {
    await sql.unsafe(`create database ${name}`)
  } finally {
    await sql.end({ timeout: 1 })
  }
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return url.toString()
}
