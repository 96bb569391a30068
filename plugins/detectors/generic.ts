/**
 * The generic rules: a value assigned to a key that names a credential (`password = …`,
 * `"client_secret": "…"`, `API_KEY=…`, `<password>…</password>`, `--password …`) in JSON, YAML, INI,
 * .env, .properties, XML, shell and most languages' source. They catch what no format rule knows,
 * so they are built not to flood: the key must name the credential itself (DB_PASSWORD, not
 * PASSWORD_MIN_LENGTH, token_type or password_hash), and the value must look like one (not a variable
 * reference, template, code, boolean, number, path, URL, word or placeholder). Their ids start with
 * `generic-`, so any specific detector matching the same value wins it (core/text-scanner.ts).
 */
import type { DetectorMatch, ScanChunk } from '../../core/contracts.ts'
import { shannonEntropy } from '../../core/entropy.ts'
import type { Confidence } from '../../core/result.ts'
import { type DetectorDefinition, defineDetector, matchesAtKeywords } from '../../core/detector.ts'
import { isDocumentedValue } from './documented-values.ts'

// --- keys ---

/** `MYSQL_ROOT_PASSWORD` -> [mysql, root, password]; `clientSecret2` -> [client, secret, 2] */
const keySegments = (key: string): string[] =>
  key
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/([A-Za-z])([0-9])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean)

const PASSWORD_WORDS = new Set(['password', 'passwd', 'pass', 'pwd', 'passphrase', 'requirepass', 'masterauth', 'masterpassword'])
const SECRET_WORDS = new Set(['secret', 'token', 'apikey', 'auth', 'credential', 'credentials', 'accesskey', 'privatekey', 'secretkey'])
/** the word before `key` that makes it a secret: api_key, access_key, private_key… */
const KEY_QUALIFIERS = new Set(['api', 'access', 'private', 'secret', 'master', 'encryption', 'signing', 'app', 'auth', 'license', 'client', 'consumer'])

/** segments after the credential word that keep it a credential (`SECRET_KEY_BASE`, `API_KEY_PROD`, `TOKEN_2`) */
const ALLOWED_AFTER = new Set([
  'key', 'value', 'secret', 'token', 'password', 'pass', 'pwd', 'base', 'plain', 'plaintext', 'raw', 'str', 'string', 'b64',
  'base64', 'hex', 'encoded', 'data', 'prod', 'production', 'dev', 'development', 'staging', 'stage', 'live', 'test', 'sandbox',
  'primary', 'secondary', 'old', 'new', 'current', 'next', 'prev', 'previous', 'backup', 'main', 'default', 'local',
  'internal', 'external', 'admin', 'root', 'master', 'readonly', 'ro', 'rw', 'write', 'read', 'for', 'global',
])

/** segments anywhere in the key that make it not a credential */
const EXCLUDED_ANYWHERE = new Set([
  'csrf', 'xsrf', 'public', 'publishable', 'nonce', 'placeholder', 'hint', 'label', 'prompt', 'description', 'example',
  'sample', 'dummy', 'fake', 'mock', 'translation', 'is', 'has', 'use', 'uses', 'enable', 'enabled', 'disable', 'disabled',
  'require', 'required', 'show', 'hide', 'no', 'allow', 'allowed', 'forgot', 'search',
])

export type CredentialKind = 'password' | 'secret'

/**
 * What a key names: a password, another secret, or nothing. The last credential word decides, and
 * what follows it must not turn it into metadata (`token_type`, `password_min_length`, `api_key_header`).
 */
export const classifyKey = (key: string): CredentialKind | undefined => {
  const segments = keySegments(key)
  if (segments.some((segment) => EXCLUDED_ANYWHERE.has(segment))) return undefined
  let kind: CredentialKind | undefined
  let last = -1
  segments.forEach((segment, i) => {
    if (PASSWORD_WORDS.has(segment) || segment.endsWith('password') || segment.endsWith('passwd')) {
      kind = 'password'
      last = i
    } else if (SECRET_WORDS.has(segment) || /^[a-z]*(?:secret|token|apikey)$/.test(segment)) {
      kind = 'secret'
      last = i
    } else if (segment === 'key' && i > 0 && KEY_QUALIFIERS.has(segments[i - 1])) {
      kind = kind === 'password' && last === i - 1 ? 'password' : 'secret'
      last = i
    }
  })
  if (kind === undefined) return undefined
  const after = segments.slice(last + 1)
  return after.every((segment) => ALLOWED_AFTER.has(segment) || /^v?\d+$/.test(segment)) ? kind : undefined
}

// --- values ---

/** the shortest value judgeCredentialValue accepts (a quoted password) */
const MIN_VALUE_LENGTH = 6

const NOT_VALUES = new Set([
  'true', 'false', 'yes', 'no', 'on', 'off', 'null', 'nil', 'none', 'undefined', 'required', 'optional', 'string', 'str',
  'bool', 'boolean', 'int', 'integer', 'number', 'bytes', 'object', 'any', 'secret', 'password', 'token', 'redacted',
  'masked', 'hidden', 'empty', 'changeme', 'todo', 'tbd', 'n/a', 'default', 'sensitive',
])

/**
 * `${X}`, `$(cmd)`, `$ENV_VAR` anywhere in the value (`user:$PASS`), `$x`, `{{ x }}`, `%(x)s`,
 * `<%= x %>`, `#{x}`, `@x@` at its start. A `$` inside a value (`k3#f9$p8w`) is just a character.
 */
const REFERENCE_OR_TEMPLATE = /^(?:\$[A-Za-z_]|%[A-Za-z_({]|\{|<|#\{|@[A-Za-z_]|__[A-Z])|\$[{(]|\$[A-Z_][A-Z0-9_]+\b|\{\{|\{%|<%|%\(|\}\}$/
/** an e-mail address as password is the anonymous-login convention */
const EMAIL = /^[\w.+-]+@[\w-]+(?:\.[\w-]+)*$/
const CODE =
  /process\.env|os\.environ|getenv|System\.get|\bENV\[|\benv\(|[=!]=(?!=*$)|&&|\|\||\?\?|\?\.|=>|\(\)|^[A-Za-z_][\w.]*\(|[A-Za-z_$][\w$]*\.[A-Za-z_$][\w$]*=/
/** `config.password`, `!this.result.issues`: a property access, not a value */
const DOTTED_IDENTIFIER = /^!?[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/
const PLACEHOLDER = /^(?:your|my|the|some|enter|insert|put|add|replace|change|example|sample|dummy|fake|placeholder)[\s_.-]|(?:^|[_-])here$|\*\*\*|\.\.\.|^<.*>$|^\[.*\]$/i
/** `xxxx` / `XXXX` filler, one case only: random values hold a mixed-case `xXx` now and then, placeholders do not */
const FILLER = /xxxx|XXXX/
const FILE_REFERENCE = /^(?:\/|\.{1,2}\/|~\/|[A-Za-z]:\\|\\\\|file:)|\/[^/]*\.(?:pem|key|crt|cer|p12|pfx|jks|json|ya?ml|txt|env|conf|cfg|ini|properties|xml|toml|pub|gpg|asc)$/i
const URL = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//
const NUMBER_OR_SIZE = /^[+-]?\d[\d.,:_]*[a-zA-Z]{0,2}$/

/** words that make a value a placeholder wherever they sit in it: `xoxa-2-REPLACE`, `sk_live_YOUR_KEY` */
const PLACEHOLDER_WORDS = new Set([
  'replace', 'replaceme', 'changeme', 'change', 'example', 'placeholder', 'dummy', 'redacted', 'your', 'here', 'todo', 'sample',
  'fake', 'insert', 'enter', 'password', 'passwd', 'secret', 'token',
])
const hasPlaceholderWord = (value: string): boolean =>
  value
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z]+/)
    .some((word) => PLACEHOLDER_WORDS.has(word))

/** `123456`, `abcdef`, `ABCdefGhIJ`: documentation values count up the keyboard */
const hasSequentialRun = (value: string): boolean => {
  const lower = value.toLowerCase()
  let run = 1
  for (let i = 1; i < lower.length; i++) {
    run = lower.charCodeAt(i) === lower.charCodeAt(i - 1) + 1 ? run + 1 : 1
    if (run >= 6) return true
  }
  return false
}

/** publishable keys are meant to be public: Stripe/Clerk pk_, Mapbox pk., PostHog phc_ */
const PUBLIC_KEY_PREFIX = /^(?:pk[._-]|phc_|pub_|pub-)/

/** `userPassword`, `SECRET_TOKEN`, `db-pass`, `?NonExpressionParenEnd`: a name, not a value */
const isWordsOnly = (value: string): boolean => /^[A-Za-z]+(?:[_.-][A-Za-z]+)*$/.test(value.replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, ''))

const characterClasses = (value: string): number =>
  [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((pattern) => pattern.test(value)).length

/**
 * Whether a value assigned to a credential key looks like a credential, and how sure that is:
 * undefined (drop), low, or medium for long, varied, high-entropy values.
 */
export const judgeCredentialValue = (rawValue: string, kind: CredentialKind, quoted: boolean, key: string): Confidence | undefined => {
  const value = rawValue.trim()
  const minLength = kind === 'password' ? (quoted ? MIN_VALUE_LENGTH : 8) : 10
  if (value.length < minLength || value.length > 400) return undefined
  if (/\s/.test(value)) return undefined
  if (NOT_VALUES.has(value.toLowerCase())) return undefined
  if (REFERENCE_OR_TEMPLATE.test(value) || CODE.test(value) || DOTTED_IDENTIFIER.test(value)) return undefined
  if (PLACEHOLDER.test(value) || FILLER.test(value) || FILE_REFERENCE.test(value) || URL.test(value) || NUMBER_OR_SIZE.test(value) || EMAIL.test(value)) return undefined
  if (/^(.)\1+$/.test(value) || isWordsOnly(value) || hasPlaceholderWord(value) || hasSequentialRun(value) || PUBLIC_KEY_PREFIX.test(value)) return undefined
  // lower-case path-like values are references (`secret/data/app`, `projects/x/secrets/y`)
  if (value.includes('/') && !/[A-Z]/.test(value) && !/\d{3}/.test(value)) return undefined
  // the key's own name, or a variable named after it: `password: PASSWORD`, `token = authToken2`
  const squashed = value.toLowerCase().replace(/[^a-z0-9]/g, '')
  if (squashed === key.toLowerCase().replace(/[^a-z0-9]/g, '')) return undefined
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(value) && /pass|secret|token|key|auth|credential/.test(squashed)) return undefined
  if (isDocumentedValue(value)) return undefined
  const entropy = shannonEntropy(value)
  const classes = characterClasses(value)
  if (kind === 'password') {
    if (classes < 2 || entropy < 2.5) return undefined
    return value.length >= 10 && entropy >= 3 && classes >= 3 ? 'medium' : 'low'
  }
  if (classes < 2 || entropy < 3.2) return undefined
  return value.length >= 20 && entropy >= 4 ? 'medium' : 'low'
}

// --- key = value ---

/**
 * A credential word, the rest of its identifier, an optional closing quote or bracket, an operator
 * (`=`, `:`, `:=`, `=>`, `?=`, `+=`, or blanks, checked below), then a value in double, single, back
 * or escaped quotes, or bare. The key's beginning (`DB_` in `DB_PASSWORD`) is found by walking back.
 */
const ASSIGNMENT =
  /(?:pass(?:word|wd|phrase)?|pwd|masterauth|secret|token|api[_.-]?key|access[_.-]?key|private[_.-]?key|master[_.-]?key|encryption[_.-]?key|signing[_.-]?key|auth|credentials?)(?<rest>[A-Za-z0-9_.-]{0,40}?)(?:\\?["'`])?\]?(?<operator>[ \t]*(?::=|=>|\?=|\+=|=|:(?![:=]))[ \t]*|[ \t]+)(?:"(?<dq>[^"\\\n]{1,400})"|'(?<sq>[^'\\\n]{1,400})'|`(?<bq>[^`\\\n]{1,400})`|\\"(?<eq>[^"\\\n]{1,400})\\"|(?<bare>[^\s"'`,;&|<>(){}[\]\\]{1,400}))/dgi

/** `[A-Za-z0-9_.-]` */
const isIdentifierChar = (code: number): boolean =>
  (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95 || code === 46 || code === 45

const BARE_SPACE_KEYS = new Set(['password', 'passwd', 'pass', 'requirepass', 'masterauth'])

/**
 * A blank between key and value (other than after a `--flag`) is an assignment only in Dockerfile
 * `ENV KEY value` and in config files that use it (`requirepass x`, .netrc `… password x`).
 */
const blankAssignmentAllowed = (text: string, keyStart: number, key: string): boolean => {
  const before = linePrefix(text, keyStart)
  if (before === undefined) return false
  if (/^\s*ENV\s+$/.test(before)) return true
  if (!BARE_SPACE_KEYS.has(key.toLowerCase())) return false
  return /^\s*$/.test(before) || /\b(?:login|user|username|account)\s+\S+\s+$/.test(before)
}

/**
 * The text between the line's start and `at`, looking back at most `limit` characters: bounded,
 * so a file with no line breaks costs no more than one with. Undefined when the line is longer.
 */
const linePrefix = (text: string, at: number, limit = 256): string | undefined => {
  for (let i = at - 1; i >= 0 && i >= at - limit; i--) if (text[i] === '\n') return text.slice(i + 1, at)
  return at <= limit ? text.slice(0, at) : undefined
}

/** keys are short: a credential word deep inside a longer run is part of a blob (base64url, a hash), not a key */
const MAX_KEY_PREFIX = 64

const ASSIGNMENT_AT = new RegExp(ASSIGNMENT.source, ASSIGNMENT.flags.replace('g', 'y'))

/**
 * ASSIGNMENT's matches. Every match starts on a keyword of the rule (CREDENTIAL_KEYWORDS covers
 * each way the pattern can begin), and the prefilter says where those start: trying the pattern
 * there costs an attempt per mention of `token`, where a case-insensitive alternation over the
 * text would try every character.
 */
const assignmentsIn = ({ text, keywordStarts }: ScanChunk): Iterable<RegExpExecArray> =>
  keywordStarts ? matchesAtKeywords(new RegExp(ASSIGNMENT_AT), text, keywordStarts) : text.matchAll(new RegExp(ASSIGNMENT))

function* credentialAssignments(chunk: ScanChunk): Iterable<DetectorMatch> {
  const { text } = chunk
  for (const match of assignmentsIn(chunk)) {
    const groups = match.groups ?? {}
    const spans = match.indices?.groups ?? {}
    const valueGroup = (['dq', 'sq', 'bq', 'eq', 'bare'] as const).find((name) => groups[name] !== undefined)
    if (!valueGroup) continue
    const span = spans[valueGroup]
    // too short for any credential (judgeCredentialValue wants 6+): code such as `token = t` ends here, cheaply
    if (!span || span[1] - span[0] < MIN_VALUE_LENGTH) continue
    let keyStart = match.index
    while (keyStart > 0 && match.index - keyStart <= MAX_KEY_PREFIX && isIdentifierChar(text.charCodeAt(keyStart - 1))) keyStart--
    if (match.index - keyStart > MAX_KEY_PREFIX) continue
    const written = text.slice(keyStart, spans.rest?.[1] ?? match.index)
    const flag = /^--?[A-Za-z]/.test(written)
    const key = written.replace(/^[.-]+/, '')
    const kind = classifyKey(key)
    if (!kind) continue
    // `password value` is an assignment in a config line, not in prose: the value ends its line
    if (/^[ \t]+$/.test(groups.operator ?? '') && !flag) {
      if (!blankAssignmentAllowed(text, keyStart, key) || !/^[ \t]*(?:#.*)?(?:\r?\n|$)/.test(text.slice(span[1], span[1] + 256))) continue
    }
    // a bare value followed by `(`, `[` or `{`, or by an operator, is code: `os.getenv(`, `ENV[`, `a:dict.x ? y : z`
    if (valueGroup === 'bare' && /[([{]/.test(text[span[1]] ?? '')) continue
    if (valueGroup === 'bare' && /^[ \t]+(?:\?|:|\+|-|\*|\/|%|\|\||&&|\.\.|or|and|if|else)[ \t]/.test(text.slice(span[1], span[1] + 8))) continue
    const value = text.slice(span[0], span[1])
    const confidence = judgeCredentialValue(value, kind, valueGroup !== 'bare', key)
    if (!confidence) continue
    yield { value, start: span[0], end: span[1], confidence, key }
  }
}

// --- XML ---

/** `<password>…</password>`, `<db.password>…</db.password>`: the element name is the key */
const XML_ELEMENT = /<(?<key>[A-Za-z_][\w.:-]{0,80})(?:\s[^<>]{0,200})?>(?<secret>[^<>\n]{1,400})<\/\k<key>\s*>/dg

/**
 * `<add key="DbPassword" value="…"/>`, `<property name="password" value="…"/>`: a key half, blanks,
 * a value half. The value half is tried where `value` stands (code says `name` everywhere, `value=`
 * far less), then the key half is looked for right before it.
 */
const XML_VALUE_AT = /value[ \t]*=[ \t]*(?<valueQuote>["'])(?<secret>[^"'<>\n]{1,400})\k<valueQuote>/dy
/** the key half, ending right before the value half (its quoted key is at most 80 characters) */
const XML_KEY_BEFORE = /\b(?:key|name)[ \t]*=[ \t]*(?<quote>["'])(?<key>[^"'<>\n]{1,80})\k<quote>[ \t\r\n]+$/d
const XML_KEY_REACH = 120

/** key="…" value="…" pairs, found from each `value` backwards: text without one is skipped at indexOf speed */
function* xmlAttributesIn(text: string): Iterable<{ key: string; span: [number, number] }> {
  const valueAt = new RegExp(XML_VALUE_AT)
  for (let at = text.indexOf('value'); at !== -1; at = text.indexOf('value', at + 5)) {
    valueAt.lastIndex = at
    const value = valueAt.exec(text)
    const span = value?.indices?.groups?.secret
    if (!value || !span) continue
    const before = text.slice(Math.max(0, at - XML_KEY_REACH), at)
    const key = XML_KEY_BEFORE.exec(before)?.groups?.key
    if (key === undefined) continue
    yield { key, span }
    at = span[1] - 5
  }
}

function* xmlElementsIn(text: string): Iterable<{ key: string; span: [number, number] | undefined }> {
  for (const match of text.matchAll(new RegExp(XML_ELEMENT))) yield { key: match.groups?.key ?? '', span: match.indices?.groups?.secret }
}

const xmlCredentials = (find: (text: string) => Iterable<{ key: string; span: [number, number] | undefined }>) =>
  function* xmlMatches(chunk: ScanChunk): Iterable<DetectorMatch> {
    for (const { key, span } of find(chunk.text)) {
      const kind = classifyKey(key.replace(/^.*:/, ''))
      if (!kind || !span) continue
      const value = chunk.text.slice(span[0], span[1])
      const confidence = judgeCredentialValue(value, kind, true, key)
      if (!confidence) continue
      yield { value, start: span[0], end: span[1], confidence, key }
    }
  }

// --- PHP define() ---

/** `define('DB_PASSWORD', '…');` as wp-config.php and other PHP configs write constants */
const PHP_DEFINE =
  /\bdefine\([ \t]*(?<keyQuote>["'])(?<key>[A-Za-z_][A-Za-z0-9_]{0,80})\k<keyQuote>[ \t]*,[ \t]*(?<valueQuote>["'])(?<secret>(?:(?!\k<valueQuote>)[^\\\n]|\\.){1,400})\k<valueQuote>[ \t]*\)/dg

/** WordPress's authentication keys and salts: 64 random printable characters by design */
const WORDPRESS_KEY = /^(?:AUTH|SECURE_AUTH|LOGGED_IN|NONCE)_(?:KEY|SALT)$/

function* phpDefines(chunk: ScanChunk): Iterable<DetectorMatch> {
  for (const match of chunk.text.matchAll(new RegExp(PHP_DEFINE))) {
    const key = match.groups?.key ?? ''
    const span = match.indices?.groups?.secret
    if (!span) continue
    const value = chunk.text.slice(span[0], span[1])
    let confidence: Confidence | undefined
    if (WORDPRESS_KEY.test(key)) {
      const random = value.length >= 32 && !/\s/.test(value) && !hasPlaceholderWord(value) && shannonEntropy(value) >= 4
      confidence = random ? 'medium' : undefined
    } else {
      const kind = classifyKey(key)
      confidence = kind ? judgeCredentialValue(value, kind, true, key) : undefined
    }
    if (confidence) yield { value, start: span[0], end: span[1], confidence, key }
  }
}

/** every way ASSIGNMENT can begin (`api[_.-]?key`: four keywords), so its keyword starts are all its match starts */
const CREDENTIAL_KEYWORDS = [
  'pass', 'pwd', 'masterauth', 'secret', 'token', 'auth', 'credential',
  ...['api', 'access', 'private', 'master', 'encryption', 'signing'].flatMap((word) => ['', '_', '.', '-'].map((separator) => `${word}${separator}key`)),
]

/** Each entry: a text, and the value the rule must find in it (undefined: nothing). Shared with the tests. */
export const GENERIC_CREDENTIAL_CASES: [string, string | undefined][] = [
  // found: env, shell, compose, JSON, YAML, INI, properties, PHP, Python, Go, netrc, redis.conf, CLI, Dockerfile
  ['DB_PASSWORD=Xk29fLq8Zt!m', 'Xk29fLq8Zt!m'],
  ['export MYSQL_ROOT_PASSWORD="v7#Qm2pL9xRt"', 'v7#Qm2pL9xRt'],
  ['      MYSQL_ROOT_PASSWORD: "h3Yq8Lw2Vz"', 'h3Yq8Lw2Vz'],
  ['{"client_id": "web", "client_secret": "q8ZtG2vLx9RmP4kWs7Nd"}', 'q8ZtG2vLx9RmP4kWs7Nd'],
  ['secret: tW4xq9LmZ2vR8kPs', 'tW4xq9LmZ2vR8kPs'],
  ['[client]\npassword = Rq7!vX2mLp9z', 'Rq7!vX2mLp9z'],
  ['spring.datasource.password=p9XvR2mQ7tLk', 'p9XvR2mQ7tLk'],
  ["$db_password = 'Zx81mQr!Tw5v';", 'Zx81mQr!Tw5v'],
  ['API_KEY = "9f8Kq2LmX7vT4rWz1pN6"', '9f8Kq2LmX7vT4rWz1pN6'],
  ['\tAccessToken: "a1B2xQ9mLz7RtK4vW8pS",', 'a1B2xQ9mLz7RtK4vW8pS'],
  ['machine api.example.com login deploy password Kq2mX9vLp7Rt', 'Kq2mX9vLp7Rt'],
  ['requirepass 8Hq2xLm9Vt4RzK', '8Hq2xLm9Vt4RzK'],
  ['app --db-password Tz8qL2mXv9Rk --port 8080', 'Tz8qL2mXv9Rk'],
  ['ENV API_TOKEN 7hGq2LmXv9RtK4zW', '7hGq2LmXv9RtK4zW'],
  ['SPRING_APPLICATION_JSON={\\"datasource\\": {\\"password\\": \\"mQ7x2LvR9tKz\\"}}', 'mQ7x2LvR9tKz'],
  ['SECRET_KEY_BASE=6e71ed49d7a194fddb74ae7bb7a4f2eb53690b14d5cc3d4cce8d2cfa4a5f2001', '6e71ed49d7a194fddb74ae7bb7a4f2eb53690b14d5cc3d4cce8d2cfa4a5f2001'],
  ['STRIPE_WEBHOOK_SIGNING_KEY_PROD=Lq9x2MvR7tKz4WpN', 'Lq9x2MvR7tKz4WpN'],
  ['https://api.example.com/v1/items?limit=10&token=Rz8qL2mXv9TkW4pN&page=2', 'Rz8qL2mXv9TkW4pN'],
  ['password := "Vb8Rt2mXq9"', 'Vb8Rt2mXq9'],
  ["AUTH='Tq9xL2mVr7KzW4pN8s'", 'Tq9xL2mVr7KzW4pN8s'],
  // not found: the issue's cases
  ['password_hash = bcrypt(password)', undefined],
  ['token_type: bearer', undefined],
  ['secret_key_base: <%= ENV["SECRET_KEY_BASE"] %>', undefined],
  ['PASSWORD_MIN_LENGTH=8', undefined],
  // variable references and templates
  ['DB_PASSWORD=${DB_PASSWORD}', undefined],
  ['DB_PASSWORD=$DB_PASSWORD', undefined],
  ['password: "{{ vault_db_password }}"', undefined],
  ["password = '%(db_password)s'", undefined],
  ['API_KEY=%API_KEY%', undefined],
  ['token: ${{ secrets.GITHUB_TOKEN }}', undefined],
  ['password=$(cat /run/secrets/db_password)', undefined],
  ['secret: <your-secret-here>', undefined],
  // code
  ['password = os.getenv("DB_PASSWORD")', undefined],
  ['const token = process.env.API_TOKEN', undefined],
  ['password = self.password', undefined],
  ['api_key = settings.STRIPE_API_KEY', undefined],
  ['if password == confirm_password:', undefined],
  ['token = kwargs.pop("token", None)', undefined],
  ['password = getpass.getpass()', undefined],
  ['const secret = crypto.randomBytes(32).toString("hex")', undefined],
  ['password = userPassword', undefined],
  ['String password = request.getParameter("password");', undefined],
  ['password: str = Field(..., min_length=8)', undefined],
  ['token: Optional[str] = None', undefined],
  ['password: string;', undefined],
  // booleans, null, numbers, sizes
  ['auth: true', undefined],
  ['"password": null', undefined],
  ['TOKEN_TTL=3600', undefined],
  ['PASSWORD_EXPIRY_DAYS=90', undefined],
  ['token_expires_in: 86400s', undefined],
  ['max_tokens: 4096', undefined],
  // paths and URLs
  ['PASSWORD_FILE=/run/secrets/db_password', undefined],
  ['GOOGLE_APPLICATION_CREDENTIALS=/var/secrets/google/key.json', undefined],
  ['private_key: ./certs/server.key', undefined],
  ['token_url: https://auth.example.com/oauth/token', undefined],
  ['secret: projects/my-project/secrets/db-password/versions/latest', undefined],
  // words, placeholders, key names as values
  ['password: changeme', undefined],
  ['password = password', undefined],
  ['DB_PASSWORD=your_password_here', undefined],
  ['API_KEY=<API_KEY>', undefined],
  ['secret: ********', undefined],
  ['api_key: xxxxxxxxxxxxxxxx', undefined],
  ['token: REPLACE_ME_WITH_TOKEN', undefined],
  ['"forgot_password": "Forgot your password?"', undefined],
  ['"password": "Password"', undefined],
  ['auth_method: kerberos', undefined],
  // keys that are not credentials
  ['csrf_token: Rz8qL2mXv9TkW4pN', undefined],
  ['NEXT_PUBLIC_API_KEY=pk_9f8Kq2LmX7vT4rWz', undefined],
  ['passwordless: enabled', undefined],
  ['tokenizer: bert-base-uncased', undefined],
  ['author: Jane Doe', undefined],
  ['secretName: db-credentials-v2', undefined],
  ['api_key_header: X-API-Key', undefined],
  ['bypass_cache=1', undefined],
  ['TOKEN_PATTERN=[A-Za-z0-9]{40}', undefined],
  // config files that look like assignments
  ['password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt', undefined],
  ['password\trequisite\t\t\tpam_deny.so', undefined],
  ['PasswordAuthentication no', undefined],
  ['PASS_MAX_DAYS\t99999', undefined],
  ['passwd:         files systemd', undefined],
  ['The password is required for every login attempt.', undefined],
  ['password: ENC[AES256_GCM,data:Tr0z8Qw==,iv:x,tag:y,type:str]', undefined],
  ['password: !vault |', undefined],
  // values that are placeholders, documentation or public by design
  ['SLACK_APP_TOKEN=xoxa-2-REPLACE', undefined],
  ['TELEGRAM_BOT_TOKEN=123456789:ABCdefGhIJKlmNoPQRsTUVwxyZ', undefined],
  ['STRIPE_SECRET_KEY=sk_test_YOUR_KEY_9x', undefined],
  ['mapboxgl.accessToken = "pk.eyJ1IjoiYWNtZSIsImEiOiJja2x4In0.Zx8qL2mXv9"', undefined],
  ['api_key: abcdef1234567890', undefined],
  ['"access_token":"2YotnFZFEjr1zCsicMWpAA",', undefined],
  ["oauth_token_secret=secret%3Dpassword&oauth_token=lock%26key", undefined],
  // code and prose from real libraries
  ['const pass = !this.result.issues || this.result.issues.length === 0;', undefined],
  ['pass: matchResult?.pass ?? false,', undefined],
  ['nextLastSignificantToken = "?NonExpressionParenEnd";', undefined],
  ['_outToken=Module._outToken=e.outToken,_outNode=Module._outNode=e.outNode', undefined],
  ['Pass `-Dpamconfdir=no` to meson to avoid installing this file and', undefined],
  ['Pass import_hook=True if the warning gets generated by an import hook', undefined],
  ['    backend: "Backend", private_key: "_DSAPrivateKey", data: bytes', undefined],
  ['private_key: _ALLOWED_PRIVATE_KEY_TYPES,', undefined],
  ['"-auth=anonymous:$FROM_EMAIL",', undefined],
  ['default login anonymous password user@site', undefined],
  ["let pwd = a:dict.istemp ? a:dict.tmpdir : ''", undefined],
  // found although they hold characters that often mean code: base64 padding, `$` and `(` in generated keys
  ['  password: UHE5eEwybVZyN0t6Cg==', 'UHE5eEwybVZyN0t6Cg=='],
  ["SECRET_KEY = 'django-insecure-k3#f9z!q2m@x7v$p8w^r1t&y5u*i0o(l4j)h6g'", 'django-insecure-k3#f9z!q2m@x7v$p8w^r1t&y5u*i0o(l4j)h6g'],
]

const casesWhere = (found: boolean): string[] => GENERIC_CREDENTIAL_CASES.filter(([, value]) => (value !== undefined) === found).map(([text]) => text)

export const genericDetectors: DetectorDefinition[] = [
  defineDetector({
    id: 'generic-credential',
    name: 'Credential assigned to a credential-named key',
    description:
      'A password, secret, token or API key assigned to a key that names it (DB_PASSWORD, client_secret, apiKey, --password) in env, JSON, YAML, INI, properties, shell or source code. Low, or medium for long varied values; any specific detector wins the same value.',
    confidence: 'low',
    keywords: CREDENTIAL_KEYWORDS,
    startsAtKeyword: true,
    detect: credentialAssignments,
    examples: casesWhere(true),
    negatives: casesWhere(false),
  }),
  defineDetector({
    id: 'generic-xml-credential',
    name: 'Credential in an XML element',
    description: 'A credential as the text of an XML element that names it: <password>, <db.password>, Maven <server><password>, Tomcat users.',
    confidence: 'low',
    keywords: CREDENTIAL_KEYWORDS,
    detect: xmlCredentials(xmlElementsIn),
    examples: [
      '<server>\n  <id>releases</id>\n  <username>deploy</username>\n  <password>Xk29fLq8Zt!m</password>\n</server>',
      '<spring.datasource.password>p9XvR2mQ7tLk</spring.datasource.password>',
      '<ns:apiKey type="string">9f8Kq2LmX7vT4rWz1pN6</ns:apiKey>',
    ],
    negatives: [
      '<password>${env.MAVEN_PASSWORD}</password>',
      '<password>{COQLCE6DU6GtcS5P=}</password>',
      '<passwordPolicy>strict-rotation-90</passwordPolicy>',
      '<password></password>',
      '<token>token</token>',
      '<password>Xk29fLq8Zt!m</passwd>',
    ],
  }),
  defineDetector({
    id: 'generic-xml-attribute-credential',
    name: 'Credential in an XML key/value attribute pair',
    description: 'A credential in a key="…" value="…" or name="…" value="…" pair: .NET appSettings, NuGet, Spring and Ant properties.',
    confidence: 'low',
    keywords: CREDENTIAL_KEYWORDS,
    detect: xmlCredentials(xmlAttributesIn),
    examples: ['<add key="DbPassword" value="Rq7!vX2mLp9z" />', '<property name="javax.net.ssl.keyStorePassword" value="h3Yq8Lw2Vz4K"/>', "<add key='ClearTextPassword' value='Tz8qL2mXv9Rk' />"],
    negatives: ['<add key="PasswordResetUrl" value="https://example.com/reset" />', '<property name="password" value="${db.password}"/>', '<add key="ApiKey" value="" />'],
  }),
  defineDetector({
    id: 'generic-php-define-credential',
    name: 'Credential in a PHP define()',
    description: 'A credential defined as a PHP constant (`define(\'DB_PASSWORD\', \'…\')`), including the WordPress authentication keys and salts of wp-config.php.',
    confidence: 'low',
    keywords: ['define('],
    detect: phpDefines,
    examples: [
      "define( 'DB_PASSWORD', 'Hq7#vL2mXp9zRt' );",
      "define('AUTH_KEY',         'K)9|mX@2vQ#8pL!z^Rt5&Wn3*Yb7~Jc1%Fd6+Gh4=Sk0-Ua2_Ei9');",
      'define("STRIPE_SECRET", "q8ZtG2vLx9RmP4kWs7Nd");',
    ],
    negatives: [
      "define( 'AUTH_KEY',         'put your unique phrase here' );",
      "define( 'DB_USER', 'wordpress_app_user' );",
      "define( 'DB_PASSWORD', getenv('WORDPRESS_DB_PASSWORD') );",
      "define( 'DB_PASSWORD', 'password_here' );",
      "define('WP_DEBUG', false);",
    ],
  }),
  defineDetector({
    id: 'sshpass-password',
    name: 'sshpass password on the command line',
    description: 'A password given to sshpass with -p, as build and deploy scripts do.',
    confidence: 'medium',
    keywords: ['sshpass'],
    pattern: /\bsshpass\b[^\n]{0,80}?[ \t]-p[ \t]*(?<quote>["']?)(?<secret>[^\s"'$-][^\s"']{2,127})\k<quote>(?=\s|$|;|&|\|)/,
    validate: (value) => !/^(?:password|passwd|pass|\*+|x+)$/i.test(value),
    examples: ["RUN sshpass -p 'Kq2mX9vLp7Rt' scp -o StrictHostKeyChecking=no build.tar deploy@10.0.0.5:/srv/"],
    negatives: ['sshpass -p "$SSH_PASSWORD" ssh deploy@host', 'sshpass -f /run/secrets/ssh_pw ssh host', 'sshpass -e ssh host'],
  }),
  defineDetector({
    id: 'docker-login-password',
    name: 'docker login password on the command line',
    description: 'A registry password or token given to docker login (or podman, buildah, helm registry login) with -p/--password.',
    confidence: 'medium',
    keywords: ['docker login', 'podman login', 'buildah login', 'nerdctl login', 'skopeo login', 'registry login', 'oras login'],
    pattern:
      /\b(?:docker|podman|buildah|nerdctl|skopeo|helm[ \t]+registry|oras)[ \t]+login\b[^\n]{0,200}?[ \t](?:-p|--password)(?:[ \t]+|=)(?<quote>["']?)(?<secret>[^\s"'$-][^\s"']{2,255})\k<quote>(?=\s|$|;|&|\|)/,
    validate: (value) => !/^(?:password|passwd|pass|\*+|x+)$/i.test(value),
    examples: ['RUN docker login -u ci -p Tq9xL2mVr7KzW4pN registry.example.com', 'podman login --username bot --password="h3Yq8Lw2Vz4KmQ" quay.io'],
    negatives: ['echo "$REGISTRY_TOKEN" | docker login -u ci --password-stdin registry.example.com', 'docker login -u ci -p "$CI_REGISTRY_PASSWORD" $CI_REGISTRY'],
  }),
]
