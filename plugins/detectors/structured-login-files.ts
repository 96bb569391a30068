/**
 * Login files, parsed: .netrc (machine/login/password tokens, entries over several lines, macdef
 * bodies skipped), git's credential store (`https://user:token@host`), PostgreSQL's .pgpass
 * (`host:port:db:user:password` with `\:` escapes) and password hashes in .htpasswd and
 * /etc/shadow. Hashes are graded low: they are crackable, not usable as they stand, and only real
 * users' hashes count (locked `*`, `!`, `!!` entries are skipped).
 */
import type { DetectorMatch, ScanChunk } from '../../core/contracts.ts'
import { credible, defineFileFormatDetector, fileNameOf, type FileFormatDetector, linesOf, pathEndsWith, writtenInto } from './file-format.ts'

type Region = { start: number; end: number; text: string }

/** The whole text when the path names the file, else the parts a script writes into it. */
const regionsOf = (chunk: ScanChunk, inPlace: boolean, names: readonly string[]): Region[] =>
  inPlace ? [{ start: 0, end: chunk.text.length, text: chunk.text }] : writtenInto(chunk.text, names)

// --- .netrc ---

interface Token {
  value: string
  start: number
  end: number
}

/** Whitespace-separated tokens, `"quoted tokens"` too, `#` comments to the end of the line skipped. */
const netrcTokens = (text: string): Token[] => {
  const tokens: Token[] = []
  const pattern = /"((?:[^"\\]|\\.)*)"|#[^\n]*|\S+/g
  for (const match of text.matchAll(pattern)) {
    if (match[0].startsWith('#')) continue
    if (match[1] !== undefined) tokens.push({ value: match[1].replace(/\\(.)/g, '$1'), start: match.index + 1, end: match.index + match[0].length - 1 })
    else tokens.push({ value: match[0], start: match.index, end: match.index + match[0].length })
  }
  return tokens
}

function* netrcPasswordsIn(region: Region): Iterable<DetectorMatch> {
  const { text } = region
  // macro bodies run to the next blank line and are not credentials
  const withoutMacros = text.replace(/\bmacdef\b[^\n]*\n(?:[^\n]+\n?)*/g, (macro) => ' '.repeat(macro.length))
  const tokens = netrcTokens(withoutMacros)
  let login = ''
  let inEntry = false
  for (let i = 0; i < tokens.length; i++) {
    const word = tokens[i].value
    if (word === 'machine' || word === 'default') {
      inEntry = true
      login = ''
      if (word === 'machine') i++
      continue
    }
    if (!inEntry || i + 1 >= tokens.length) continue
    if (word === 'login') login = tokens[++i].value
    else if (word === 'password' || word === 'passwd') {
      const value = tokens[++i]
      // anonymous FTP gives an e-mail address as its password
      if (/^(?:anonymous|ftp)$/i.test(login) || !credible(value.value)) continue
      yield { value: value.value, start: region.start + value.start, end: region.start + value.end, key: 'password' }
    } else if (word === 'account' || word === 'port') i++
  }
}

const NETRC_LINE = /^[ \t]*machine[ \t]+\S+[ \t]+(?:login[ \t]+\S+[ \t]+)?password[ \t]+\S+/gm

const isNetrcPath = (path: string): boolean => ['.netrc', '_netrc'].includes(fileNameOf(path))

function* netrcPasswords(chunk: ScanChunk): Iterable<DetectorMatch> {
  const inPlace = isNetrcPath(chunk.path)
  const seen = new Set<number>()
  for (const region of regionsOf(chunk, inPlace, ['.netrc', '_netrc'])) {
    for (const match of netrcPasswordsIn(region)) {
      seen.add(match.start)
      yield match
    }
  }
  if (inPlace || !chunk.text.includes('machine')) return
  // elsewhere, a line that is a whole entry by itself: machine <host> login <user> password <secret>
  for (const line of chunk.text.matchAll(NETRC_LINE)) {
    const lineEnd = chunk.text.indexOf('\n', line.index)
    const region = { start: line.index, end: lineEnd === -1 ? chunk.text.length : lineEnd, text: '' }
    region.text = chunk.text.slice(region.start, region.end)
    for (const match of netrcPasswordsIn(region)) if (!seen.has(match.start)) yield match
  }
}

// --- git credential store ---

const CREDENTIAL_URL = /^[ \t]*[a-z][a-z0-9+.-]*:\/\/(?<user>[^:@/\s]*):(?<secret>[^@/\s]+)@[^\s/]+\S*[ \t]*$/

const decodePercent = (value: string): string => {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

const isGitCredentialsPath = (path: string): boolean => fileNameOf(path) === '.git-credentials' || pathEndsWith(path, 'git', 'credentials')

function* gitCredentials(chunk: ScanChunk): Iterable<DetectorMatch> {
  const inPlace = isGitCredentialsPath(chunk.path)
  for (const region of regionsOf(chunk, inPlace, ['.git-credentials', 'git/credentials'])) {
    for (const line of linesOf(region.text)) {
      const match = CREDENTIAL_URL.exec(line.text)
      const secret = match?.groups?.secret
      if (!match || !secret) continue
      const value = decodePercent(secret)
      if (!credible(value)) continue
      const start = region.start + line.start + line.text.indexOf(`:${secret}@`) + 1
      yield { value, start, end: start + secret.length, key: 'password' }
    }
  }
}

// --- .pgpass ---

/** `host:port:database:user:password`; `\:` and `\\` are escapes; the password is the rest of the line. */
const pgpassPassword = (line: string): { value: string; offset: number } | undefined => {
  let fields = 0
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\\') i++
    else if (line[i] === ':' && ++fields === 4) {
      const raw = line.slice(i + 1)
      return { value: raw.replace(/\\(.)/g, '$1'), offset: i + 1 }
    }
  }
  return undefined
}

const isPgpassPath = (path: string): boolean => ['.pgpass', 'pgpass.conf'].includes(fileNameOf(path))

function* pgpassPasswords(chunk: ScanChunk): Iterable<DetectorMatch> {
  const inPlace = isPgpassPath(chunk.path)
  for (const region of regionsOf(chunk, inPlace, ['.pgpass', 'pgpass.conf'])) {
    for (const line of linesOf(region.text)) {
      if (/^[ \t]*(?:#|$)/.test(line.text)) continue
      const text = line.text.replace(/[ \t]+$/, '')
      const found = pgpassPassword(text)
      if (!found || !credible(found.value)) continue
      const start = region.start + line.start + found.offset
      yield { value: found.value, start, end: region.start + line.start + text.length, key: 'password' }
    }
  }
}

// --- password hashes ---

/** crypt(3) and htpasswd hash formats: bcrypt, apr1 and md5-crypt, sha256/sha512-crypt, yescrypt, gost-yescrypt, {SHA} */
const CRYPT_HASH =
  /^(?:\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}|\$(?:apr1|1)\$[./0-9A-Za-z]{1,8}\$[./0-9A-Za-z]{22}|\$5\$(?:rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{43}|\$6\$(?:rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}|\$g?y\$[./A-Za-z0-9]+\$[./A-Za-z0-9]{1,86}\$[./A-Za-z0-9]{43}|\{SHA\}[A-Za-z0-9+/]{27}=)$/
/** the 13-character DES crypt of old htpasswd files: only believed in a file named so */
const DES_CRYPT = /^[./0-9A-Za-z]{13}$/

function* htpasswdHashes(chunk: ScanChunk): Iterable<DetectorMatch> {
  const name = fileNameOf(chunk.path)
  const inPlace = name === '.htpasswd' || name === 'htpasswd' || name.endsWith('.htpasswd')
  for (const line of linesOf(chunk.text)) {
    const entry = /^([^:\s#][^:\s]*):(\S+)$/.exec(line.text)
    if (!entry) continue
    const hash = entry[2]
    if (!CRYPT_HASH.test(hash) && !(inPlace && DES_CRYPT.test(hash))) continue
    const start = line.start + entry[1].length + 1
    yield { value: hash, start, end: start + hash.length, key: entry[1] }
  }
}

function* shadowHashes(chunk: ScanChunk): Iterable<DetectorMatch> {
  const inPlace = pathEndsWith(chunk.path, 'etc', 'shadow') || pathEndsWith(chunk.path, 'etc', 'shadow-')
  for (const line of linesOf(chunk.text)) {
    const fields = line.text.split(':')
    if (fields.length !== 9 || !/^[a-z_][a-z0-9_.-]*\$?$/i.test(fields[0])) continue
    // last change, min, max, warn: days or empty
    if (!fields.slice(2, 6).every((field) => /^\d*$/.test(field))) continue
    const hash = fields[1]
    // `*`, `!`, `!!`, `!$6$...`: locked or passwordless accounts, no usable hash
    if (/^[!*]/.test(hash) || !(CRYPT_HASH.test(hash) || (inPlace && DES_CRYPT.test(hash)))) continue
    const start = line.start + fields[0].length + 1
    yield { value: hash, start, end: start + hash.length, key: fields[0] }
  }
}

const SHA512_HASH = '$6$AStkn0hj$6Kiq0h/A/kDKwSndHeTe5fM4v5wED6dXmWsCeORfhe66d6iTCdnbOxymhmBsjbO5oFs2773amZo/OfoXLtQLd0'
const BCRYPT_HASH = '$2y$10$yLYpwAHyNefgo4OPVgD3sl8bwcOh9vCq5B5DWvM3e90KoaYa7nUfT'
const APR1_HASH = '$apr1$zrg5/R6X$ogQ70qzrIfNJfB4j9CGjtw'
const YESCRYPT_HASH = '$y$j9T$qTIW1lOVM/wS.mO1RUTogm$MAR8SP7iRkzdnG6QihziIlWU66eo6uipN3270hWXBvI'

export const structuredLoginFileDetectors: FileFormatDetector[] = [
  defineFileFormatDetector({
    id: 'netrc-password',
    name: '.netrc password',
    description: 'A password in a .netrc (curl, git, pip, ftp), or in a line a script writes into one.',
    confidence: 'high',
    keywords: ['machine', 'netrc', 'password'],
    detect: netrcPasswords,
    parsesInPlace: isNetrcPath,
    examples: [
      'RUN echo "machine github.com login ci-bot password ghs_kq7Wn2Rd9Xs4Lm1Zx6Vb3Ht8Jy5Gc0FaRMYz" > /root/.netrc && pip install -r requirements.txt',
      'machine api.heroku.com login ops@acme-corp.io password 3f786850-e387-550f-dab8-36ed7e6dc881',
    ],
    negatives: ['machine ftp.gnu.org login anonymous password guest@example.com', 'the machine asks for a login and a password', 'machine example.com login bob password ${NETRC_PASSWORD}'],
    fileExamples: [
      { path: 'root/.netrc', text: '# deploy\nmachine artifacts.acme-corp.io\n  login deploy\n  password Tq9xL2mVr7KzW4pN\n\nmacdef init\nbin\n\ndefault login guest password W9V1FqVbX8Rjo\n' },
    ],
    fileNegatives: [{ path: 'root/.netrc', text: 'machine ftp.debian.org login anonymous password me@example.com\nmacdef init\npassword notreally\n\n' }],
  }),
  defineFileFormatDetector({
    id: 'git-credentials-password',
    name: 'git credential store entry',
    description: 'A token or password in git\'s credential store (~/.git-credentials, $XDG_CONFIG_HOME/git/credentials), percent-decoded.',
    confidence: 'high',
    keywords: ['git-credentials', 'git/credentials', '://'],
    detect: gitCredentials,
    parsesInPlace: isGitCredentialsPath,
    examples: [
      "RUN git config --global credential.helper store && echo 'https://ci-bot:W9V1FqVbX8RjoVaeow32DayRbGk@git.acme-corp.io' > /root/.git-credentials",
      "cat > ~/.git-credentials <<'EOF'\nhttps://oauth2:glpat-kq7Wn2Rd9Xs4Lm1Zx6Vb@gitlab.com\nEOF",
    ],
    negatives: ['https://github.com/acme/app.git', "echo 'https://ci:$GIT_TOKEN@github.com' > ~/.git-credentials"],
    fileExamples: [{ path: 'root/.git-credentials', text: 'https://octocat:Tq9xL2mVr7K%40zW4pN@github.com\nhttps://bot:kq7Wn2Rd9Xs4Lm1Z@bitbucket.org\n' }],
    fileNegatives: [{ path: 'root/.gitconfig', text: '[url "https://ci-bot:W9V1FqVbX8RjoVae@git.acme-corp.io"]\n' }],
  }),
  defineFileFormatDetector({
    id: 'pgpass-password',
    name: 'PostgreSQL password file entry',
    description: 'A password in a .pgpass (host:port:database:user:password, escapes decoded), or in lines a script writes into one.',
    confidence: 'high',
    // a .pgpass need not name itself: its ports (or wildcard) are what every line holds
    keywords: ['pgpass', ':5432:', ':5433:', ':5434:', ':6432:', ':*:'],
    detect: pgpassPasswords,
    parsesInPlace: isPgpassPath,
    examples: ["RUN echo 'db.internal:6543:orders:orders_rw:Kq2m\\:X9vLp7Rt' > /root/.pgpass && chmod 600 /root/.pgpass", 'cat >> $HOME/.pgpass <<EOF\n*:*:*:replicator:W9V1FqVbX8Rjo\nEOF'],
    negatives: ['echo "localhost:5432:*:postgres:${PGPASSWORD}" > ~/.pgpass', 'export PGPASSFILE=/run/secrets/pgpass'],
    fileExamples: [{ path: 'var/lib/postgresql/.pgpass', text: '# hostname:port:database:username:password\nprimary.db:5432:*:replicator:Tq9x\\:L2mVr7\\\\KzW4\n' }],
    fileNegatives: [{ path: 'root/.pgpass', text: '# hostname:port:database:username:password\nlocalhost:5432:*:postgres:*\n' }],
  }),
  defineFileFormatDetector({
    id: 'htpasswd-hash',
    name: '.htpasswd password hash',
    description: 'A user\'s password hash in an Apache/nginx .htpasswd (bcrypt, apr1, SHA, crypt). Low: a hash must be cracked before it is of use.',
    confidence: 'low',
    keywords: ['$apr1$', '$2y$', '$2a$', '$2b$', '{sha}', 'htpasswd'],
    detect: htpasswdHashes,
    examples: [`admin:${APR1_HASH}`, `ops:${BCRYPT_HASH}`],
    negatives: ['admin:$apr1$zrg5/R6X$ogQ70qzrIf', `root:${SHA512_HASH}:19500:0:99999:7:::`, 'replace(/x/, "$1$2")'],
    fileExamples: [{ path: 'etc/nginx/.htpasswd', text: `admin:${APR1_HASH}\nlegacy:YLUPHXlm6spil\n` }],
    fileNegatives: [{ path: 'etc/nginx/.htpasswd', text: '# no users yet\n' }],
  }),
  defineFileFormatDetector({
    id: 'shadow-password-hash',
    name: '/etc/shadow password hash',
    description: 'A real user\'s password hash in /etc/shadow (sha512-crypt, yescrypt, bcrypt...); locked and passwordless accounts are skipped. Low: crackable, not usable as it stands.',
    confidence: 'low',
    keywords: ['$6$', '$5$', '$y$', '$gy$', '$2b$', '$2y$'],
    detect: shadowHashes,
    examples: [`root:${SHA512_HASH}:19500:0:99999:7:::`, `deploy:${YESCRYPT_HASH}:19700:0:99999:7:::`],
    negatives: ['root:*:19500:0:99999:7:::', `daemon:!${SHA512_HASH}:19500:0:99999:7:::`, 'sshd:!!:19500::::::', `root:${SHA512_HASH}`],
    fileExamples: [{ path: 'etc/shadow', text: `root:${SHA512_HASH}:19500:0:99999:7:::\nbin:*:19500:0:99999:7:::\nnobody:!:19500::::::\n` }],
    fileNegatives: [{ path: 'etc/shadow', text: 'root:*:19500:0:99999:7:::\nsshd:!!:19500::::::\nguest:!*:19500::::::\n' }],
  }),
]
