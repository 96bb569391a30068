/**
 * Integrity hashes are checksums of public packages, not secrets: `"integrity": "sha512-…"` in
 * package-lock.json, `h1:…=` in go.sum, `checksum = "…"` in Cargo.lock, `hash = "sha256:…"` in
 * poetry.lock, `--hash=sha256:…` in requirements files, `integrity="sha384-…"` on a script tag.
 * They look random, so a loose rule may match one; this recognises them by file and by context.
 */

const LOCK_FILES = new Set([
  'package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml', 'bun.lock', 'deno.lock', 'go.sum', 'go.work.sum',
  'cargo.lock', 'poetry.lock', 'pipfile.lock', 'uv.lock', 'pdm.lock', 'pylock.toml', 'composer.lock', 'gemfile.lock', 'packages.lock.json',
  'paket.lock', 'gradle.lockfile', 'verification-metadata.xml', 'flake.lock', 'pubspec.lock', 'mix.lock', 'package.resolved',
  'podfile.lock', 'cartfile.resolved', 'conan.lock', 'vcpkg-lock.json', 'gopkg.lock', 'glide.lock', 'shard.lock', 'manifest.toml',
  'chart.lock', '.terraform.lock.hcl', 'maven-dependencies.lock',
])

/** digests as lock files write them: hex of a hash's length, padded base64 of one, or algorithm-prefixed */
const DIGEST =
  /^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{56}|[0-9a-f]{64}|[0-9a-f]{96}|[0-9a-f]{128}|[A-Za-z0-9+/]{27}=|[A-Za-z0-9+/]{43}=|[A-Za-z0-9+/]{64}|[A-Za-z0-9+/]{86}==)$|^(?:sha1|sha224|sha256|sha384|sha512|md5|blake2b|h1|zh)[-:][A-Za-z0-9+/=]{20,}$/i
/** what stands right before a digest: `sha512-`, `h1:`, `--hash=sha256:`, `.tgz#`, `integrity `, `checksum = "` */
const DIGEST_PREFIX = /(?:sha(?:1|224|256|384|512)[-:]|h1:|zh:|--hash=sha\d{1,3}:|integrity=["']sha\d{3}-)$/
const LOCK_FILE_PREFIX = /(?:#|(?:integrity|checksum|hash|shasum|digest|sum)["']?\s*[:=]?\s*["'{]?\s*)$/i

const basename = (path: string): string => path.toLowerCase().split(/[/!]/).pop() ?? ''

export const isLockFile = (path: string): boolean => LOCK_FILES.has(basename(path)) || /(?:^|[/!])requirements[\w.-]*\.txt$/i.test(path)

/**
 * Why a matched value is an integrity hash (the reason to give), or undefined. The value must have
 * a digest's shape and stand where a digest stands: a token in a lock file's `resolved` URL is
 * still a token.
 */
export const integrityHashReason = (value: string, path: string, line: string): string | undefined => {
  if (!DIGEST.test(value)) return undefined
  const at = line.indexOf(value)
  const before = at > 0 ? line.slice(Math.max(0, at - 24), at) : ''
  const lockFile = isLockFile(path)
  if (DIGEST_PREFIX.test(before) || /^(?:sha\d{1,3}|h1|zh)[-:]/.test(value)) return lockFile ? 'lock-file integrity hash' : 'integrity hash (a package checksum)'
  if (lockFile && LOCK_FILE_PREFIX.test(before)) return 'lock-file integrity hash'
  return undefined
}
