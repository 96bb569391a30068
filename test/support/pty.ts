/**
 * Runs a command in a pseudo-terminal, as a person would at a terminal, through util-linux
 * `script` (Debian's bsdutils: always installed). The test waits for what the program prints and
 * types keys back. The terminal gets a real size: prompts draw garbage in a 0-column pty.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'

export const Keys = { up: '\u001b[A', down: '\u001b[B', left: '\u001b[D', right: '\u001b[C', enter: '\r', space: ' ' } as const

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]|\u001b\][^\u0007]*\u0007/g

export interface PtySession {
  /** everything printed so far, escape sequences removed */
  output(): string
  /** waits until `pattern` appears after what earlier waits consumed */
  waitFor(pattern: string | RegExp, timeoutMs?: number): Promise<void>
  type(keys: string): Promise<void>
  exitCode: Promise<number | null>
  kill(): void
}

const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`

export const runInPty = (argv: string[], options: { cwd: string; env?: Record<string, string | undefined> }): PtySession => {
  const command = `stty cols 160 rows 50; exec ${argv.map(quote).join(' ')}`
  const child: ChildProcessWithoutNullStreams = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], {
    cwd: options.cwd,
    env: { ...process.env, TERM: 'xterm', ...options.env },
  })
  let raw = ''
  child.stdout.on('data', (chunk: Buffer) => {
    raw += chunk.toString('utf8')
  })
  child.stderr.on('data', (chunk: Buffer) => {
    raw += chunk.toString('utf8')
  })
  const exitCode = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  let consumed = 0
  const output = () => raw.replace(ANSI, '').replace(/\r/g, '')
  return {
    output,
    async waitFor(pattern, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const text = output().slice(consumed)
        const match = typeof pattern === 'string' ? { index: text.indexOf(pattern), length: pattern.length } : (() => {
          const found = pattern.exec(text)
          return { index: found ? found.index : -1, length: found ? found[0].length : 0 }
        })()
        if (match.index >= 0) {
          consumed += match.index + match.length
          return
        }
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`waited for ${String(pattern)}; the terminal shows:\n${output().slice(-3000)}`)
        }
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
    },
    async type(keys) {
      // a prompt draws itself a moment before it listens: give it that moment, as a person would
      await new Promise((resolve) => setTimeout(resolve, 150))
      // one key at a time, as typed: prompts read keypresses, not lines
      for (const key of keys.match(/\u001b\[[A-D]|[\s\S]/g) ?? []) {
        child.stdin.write(key)
        await new Promise((resolve) => setTimeout(resolve, 30))
      }
    },
    exitCode,
    kill: () => child.kill('SIGKILL'),
  }
}
