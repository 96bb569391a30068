/**
 * Registry credentials the way `docker login` leaves them: `~/.docker/config.json` (or
 * `$DOCKER_CONFIG/config.json`) with `auths`, `credHelpers` and `credsStore`, the helpers spoken
 * to over the `docker-credential-<name> get` protocol. Explicit username/password win. Nothing is
 * read or spawned until a registry actually asks for credentials, so a broken helper only
 * matters for the host that needs it.
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { LayerleakError } from '../../core/errors.ts'
import { DOCKER_HUB } from './image-reference.ts'

export interface Credentials {
  username?: string
  password?: string
  /** an OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint */
  identityToken?: string
  /** a bearer token sent to the registry as is (`registrytoken`) */
  registryToken?: string
}

export interface CredentialStore {
  /** credentials for a registry (`docker.io`, `ghcr.io`, `localhost:5000`), or undefined for anonymous */
  get(registry: string): Promise<Credentials | undefined>
}

export interface CredentialStoreOptions {
  /** used for every registry when given */
  username?: string
  password?: string
  /** the directory holding config.json (default $DOCKER_CONFIG, else ~/.docker) */
  dockerConfigDir?: string
  /** environment for DOCKER_CONFIG, HOME and the helpers' PATH (default process.env) */
  env?: Record<string, string | undefined>
  /** ms a credential helper may take (default 30s) */
  helperTimeout?: number
  /** told when credentials are skipped rather than failing (a missing credsStore helper) */
  onWarning?: (message: string) => void
}

interface AuthEntry {
  auth?: string
  username?: string
  password?: string
  identitytoken?: string
  registrytoken?: string
}

interface DockerConfig {
  auths?: Record<string, AuthEntry>
  credHelpers?: Record<string, string>
  credsStore?: string
}

/** Hub's key in config.json and what its helpers are asked for */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/'
const HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])

/** A config key (`https://index.docker.io/v1/`, `ghcr.io`, `http://localhost:5000`) as a registry name. */
export const registryOfConfigKey = (key: string): string => {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0].toLowerCase()
  return HUB_HOSTS.has(host) ? DOCKER_HUB : host
}

const decodeAuth = (auth: string, where: string): Credentials => {
  const text = Buffer.from(auth, 'base64').toString('utf8')
  const colon = text.indexOf(':')
  if (colon === -1) throw new LayerleakError('CREDENTIALS_ERROR', `${where}: "auth" is not base64 of user:password`)
  return { username: text.slice(0, colon), password: text.slice(colon + 1) }
}

const fromEntry = (entry: AuthEntry, where: string): Credentials | undefined => {
  const found: Credentials = entry.auth ? decodeAuth(entry.auth, where) : {}
  if (entry.username) found.username = entry.username
  if (entry.password) found.password = entry.password
  if (entry.identitytoken) found.identityToken = entry.identitytoken
  if (entry.registrytoken) found.registryToken = entry.registrytoken
  return Object.keys(found).length > 0 ? found : undefined
}

const NOT_FOUND = /credentials not found|no credentials/i

/** Runs `docker-credential-<helper> get` with the server URL on stdin and reads its JSON answer. */
export const runCredentialHelper = (
  helper: string,
  serverUrl: string,
  options: { env?: Record<string, string | undefined>; timeout?: number } = {},
): Promise<Credentials | undefined> =>
  new Promise((resolve, reject) => {
    const program = `docker-credential-${helper}`
    const child = spawn(program, ['get'], { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new LayerleakError('CREDENTIALS_ERROR', `${program} did not answer within ${(options.timeout ?? 30_000) / 1000}s`))
    }, options.timeout ?? 30_000)
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      const why = error.code === 'ENOENT' ? 'is not installed (not found on PATH)' : `could not run (${error.message})`
      reject(new LayerleakError('CREDENTIALS_ERROR', `credential helper ${program}, configured for ${serverUrl} in the Docker config, ${why}`, { cause: error }))
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      if (code !== 0) {
        if (NOT_FOUND.test(stdout + stderr)) return resolve(undefined)
        return reject(new LayerleakError('CREDENTIALS_ERROR', `${program} get failed for ${serverUrl} (exit ${code}): ${(stderr || stdout).trim().slice(0, 300)}`))
      }
      try {
        const answer = JSON.parse(stdout) as { Username?: string; Secret?: string }
        if (!answer.Secret) return resolve(undefined)
        // helpers mark identity (refresh) tokens with the user name `<token>`
        resolve(answer.Username === '<token>' ? { identityToken: answer.Secret } : { username: answer.Username ?? '', password: answer.Secret })
      } catch (cause) {
        reject(new LayerleakError('CREDENTIALS_ERROR', `${program} get for ${serverUrl} did not answer with JSON`, { cause }))
      }
    })
    child.stdin.on('error', () => {}) // a helper that exits without reading stdin is reported by `close`
    child.stdin.end(serverUrl)
  })

export const createCredentialStore = (options: CredentialStoreOptions = {}): CredentialStore => {
  const env = options.env ?? process.env
  const dir = options.dockerConfigDir ?? env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker')
  const path = join(dir, 'config.json')
  let config: Promise<DockerConfig> | undefined
  const found = new Map<string, Promise<Credentials | undefined>>()

  const loadConfig = async (): Promise<DockerConfig> => {
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
      throw new LayerleakError('CREDENTIALS_ERROR', `cannot read ${path}: ${(error as Error).message}`, { cause: error })
    }
    try {
      return JSON.parse(text) as DockerConfig
    } catch (cause) {
      throw new LayerleakError('CREDENTIALS_ERROR', `${path} is not valid JSON`, { cause })
    }
  }

  const lookup = async (registry: string): Promise<Credentials | undefined> => {
    const docker = await (config ??= loadConfig())
    const helper = Object.entries(docker.credHelpers ?? {}).find(([key]) => registryOfConfigKey(key) === registry)
    const serverUrl = registry === DOCKER_HUB ? DOCKER_HUB_KEY : (helper?.[0] ?? registry)
    if (helper) return runCredentialHelper(helper[1], serverUrl, { env, timeout: options.helperTimeout })
    for (const [key, entry] of Object.entries(docker.auths ?? {})) {
      if (registryOfConfigKey(key) !== registry) continue
      const credentials = fromEntry(entry, `${path} auths["${key}"]`)
      if (credentials) return credentials
    }
    if (docker.credsStore) {
      // credsStore is the default for every registry, so a config copied from Docker Desktop often
      // names a helper this machine lacks: that must not block anonymous pulls of public images
      try {
        return await runCredentialHelper(docker.credsStore, serverUrl, { env, timeout: options.helperTimeout })
      } catch (error) {
        if ((error as LayerleakError).cause && ((error as LayerleakError).cause as NodeJS.ErrnoException).code === 'ENOENT') {
          options.onWarning?.(`docker-credential-${docker.credsStore} (credsStore in ${path}) is not installed: reading ${registry} anonymously`)
          return undefined
        }
        throw error
      }
    }
    return undefined
  }

  return {
    get(registry) {
      if (options.username !== undefined) return Promise.resolve({ username: options.username, password: options.password ?? '' })
      let pending = found.get(registry)
      if (!pending) {
        pending = lookup(registry)
        found.set(registry, pending)
      }
      return pending
    },
  }
}
