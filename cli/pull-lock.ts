/**
 * One writer per partial download: `DIR/.<hex>.partial.lock`, created with O_EXCL and holding
 * `pid@host`. A second pull of the same digest into the same DIR (another terminal, a script) fails
 * at once for that layer, naming the holder, instead of two processes writing one partial file. A
 * lock left by a process that is gone (killed, a power cut) is taken over: on this host, its pid no
 * longer runs. A lock from another host (a shared directory) is never judged stale, since its pid
 * means nothing here: the message says to remove it by hand once no pull runs there.
 */
import { randomBytes } from 'node:crypto'
import { link, open, readFile, rename, rm, stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import { LayerleakError } from '../core/errors.ts'

/** a lock whose holder never got to write its name is left alone this long (it may be writing it now) */
const UNNAMED_GRACE_MS = 10_000

/** locks this process holds: a stale lock of a dead process may carry our pid after a reboot */
const held = new Set<string>()

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, as another user
    return (error as { code?: string }).code === 'EPERM'
  }
}

const holderOf = (text: string): { pid: number; host: string } | undefined => {
  const match = /^(\d+)@(.+)$/.exec(text.trim())
  return match ? { pid: Number(match[1]), host: match[2] } : undefined
}

/** why the lock at `path`, holding `text`, still stands; undefined when its holder is gone */
const standingReason = async (path: string, text: string): Promise<string | undefined> => {
  const holder = holderOf(text)
  if (!holder) {
    const age = Date.now() - (await stat(path)).mtimeMs
    return age < UNNAMED_GRACE_MS ? 'a pull that is starting' : undefined
  }
  if (holder.host !== hostname()) return `pid ${holder.pid} on ${holder.host}`
  if (holder.pid === process.pid) return held.has(path) ? 'this process' : undefined
  return isRunning(holder.pid) ? `pid ${holder.pid}` : undefined
}

const create = async (path: string): Promise<boolean> => {
  try {
    const handle = await open(path, 'wx', 0o644)
    try {
      await handle.writeFile(`${process.pid}@${hostname()}\n`)
    } finally {
      await handle.close()
    }
    return true
  } catch (error) {
    if ((error as { code?: string }).code === 'EEXIST') return false
    throw error
  }
}

/**
 * Moves a stale lock aside and checks that what moved is the lock judged stale (another pull may
 * have taken it over in between: then it is put back, and this one is busy).
 */
const takeOver = async (path: string, staleText: string): Promise<boolean> => {
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.stale`
  try {
    await rename(path, aside)
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return true
    throw error
  }
  if ((await readFile(aside, 'utf8')) === staleText) {
    await rm(aside, { force: true })
    return true
  }
  await link(aside, path).catch(() => {})
  await rm(aside, { force: true })
  return false
}

/** Takes the lock at `path` for `what`; resolves to its release. Fails (LOCKED) while another pull holds it. */
export const acquirePullLock = async (path: string, what: string): Promise<() => Promise<void>> => {
  for (let tries = 0; tries < 3; tries++) {
    if (await create(path)) {
      held.add(path)
      return async () => {
        held.delete(path)
        await rm(path, { force: true })
      }
    }
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') continue // released meanwhile
      throw error
    }
    const reason = await standingReason(path, text).catch(() => undefined)
    if (reason !== undefined) {
      throw new LayerleakError('LOCKED', `another layerleak pull (${reason}) is downloading ${what}; wait for it, or remove ${path} if no pull is running`, {
        details: { lock: path },
      })
    }
    await takeOver(path, text)
  }
  throw new LayerleakError('LOCKED', `could not take the lock ${path} for ${what}: other pulls keep taking it`, { details: { lock: path } })
}
