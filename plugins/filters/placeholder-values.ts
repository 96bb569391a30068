/**
 * Values that stand where a secret would go: `xxxx`, `your_api_key_here`, `<token>`, `${VAR}`,
 * `changeme`, a repeated character, a run counting up the keyboard. Each test is written so that a
 * random value (a real secret) cannot pass it by chance: runs must be long, words must sit between
 * separators, sequences must cover the whole value (or its longest segment).
 */

/** what a docs writer types where the secret goes */
const FILLER_RUN = /x{6,}|X{6,}|\*{4,}|•{3,}|#{6,}|\.{4,}|_{6,}|0{12,}|…/

/** `${VAR}`, `{{ .Values.x }}`, `<%= x %>`, `$(cmd)`, `%(name)s`, `#{x}` anywhere; `$VAR`, `%VAR%`, `@VAR@` as the whole value */
const TEMPLATE =
  /\$\{[^}]*\}|\{\{[^}]*\}\}|\{%[^%]*%\}|<%[^%]*%>|\$\([^)]*\)|%\([A-Za-z_][\w]*\)[sd]|#\{[^}]*\}|^\$[A-Za-z_][A-Za-z0-9_]*$|^%[A-Za-z_][A-Za-z0-9_]*%$|^@[A-Za-z_][A-Za-z0-9_]*@$/

/** `<token>`, `<YOUR KEY>`, `[API_KEY]` */
const BRACKETED = /<[A-Za-z][\w .:-]{0,40}>|^\[[A-Za-z][\w .:-]{0,40}\]$/

/** whole values that are words people write instead of a secret */
const PLACEHOLDER_WORDS = new Set([
  'changeme', 'changeit', 'change_me', 'change-me', 'replaceme', 'replace_me', 'replace-me', 'placeholder', 'dummy', 'redacted',
  'todo', 'tbd', 'example', 'sample', 'secret', 'password', 'passw0rd', 'p@ssw0rd', 'p@ssword', 'pass', 'test', 'testing',
  'foo', 'bar', 'foobar', 'baz', 'none', 'null', 'nil', 'undefined', 'empty', 'notasecret', 'not-a-secret', 'not_a_secret',
  'insecure', 'default', 'mysecret', 'supersecret', 'topsecret', 'letmein', 'hunter2', 'qwerty', 'abc123', 'secret123',
  'password1', 'password123', 'admin', 'root', 'guest', 'user', 'xxx', 'fake', 'invalid', 'masked', 'hidden', '****',
])

/** words that make a separator-delimited value a placeholder wherever they stand: `sk_live_YOUR_KEY`, `xoxb-REPLACE-ME` */
const SEGMENT_WORDS = new Set([
  'changeme', 'replaceme', 'replace', 'placeholder', 'dummy', 'redacted', 'example', 'sample', 'fake', 'todo', 'tbd', 'your', 'yours',
  'here', 'insert', 'notreal', 'lorem', 'ipsum', 'foobar', 'xxx', 'xxxx', 'invalid',
])
/** a human phrase about a secret (`my-secret-pw`, `super_secret_token`) rather than a secret */
const CREDENTIAL_WORDS = new Set(['secret', 'password', 'passwd', 'pass', 'pw', 'pwd', 'token', 'key', 'apikey', 'api', 'auth', 'credential', 'credentials'])

const SEPARATORS = /[-_.\s/:]+/

/** `yourApiKey`, `API_KEY_HERE`, `insert-token`: words, camelCase split */
const words = (value: string): string[] =>
  value
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9@]+/)
    .filter(Boolean)

/** (three-letter words like `put` would start random values too often) */
const LEADING_INSTRUCTION = new Set(['your', 'enter', 'insert', 'paste', 'replace'])

/** characters a value is made of, case folded */
const distinct = (value: string): number => new Set(value.toLowerCase()).size

/** the value cut into maximal ascending or descending runs (`abcdef123456` is two runs) */
const runCount = (value: string): number => {
  const text = value.toLowerCase()
  let runs = 1
  let direction = 0
  for (let i = 1; i < text.length; i++) {
    const step = text.charCodeAt(i) - text.charCodeAt(i - 1)
    const wraps = (text[i - 1] === '9' && text[i] === '0') || (text[i - 1] === '0' && text[i] === '9')
    const next = step === 1 || (wraps && text[i] === '0') ? 1 : step === -1 || (wraps && text[i] === '9') ? -1 : 0
    if (next !== 0 && (direction === 0 || direction === next)) {
      direction = next
      continue
    }
    runs++
    direction = 0
  }
  return runs
}

/** `123456`, `abcdefgh`, `0123456789abcdef`, `ABCDEFGHIJ0123456789`: a value that counts */
export const isSequential = (value: string): boolean => {
  const alnum = value.replace(/[^A-Za-z0-9]/g, '')
  if (alnum.length < 6) return false
  if (runCount(alnum) === 1) return true
  // a few runs make a sequence only when they cover a long value: random text breaks every 1-2 characters
  return alnum.length >= 10 && runCount(alnum) <= Math.max(2, Math.floor(alnum.length / 8))
}

const KEYBOARD_WALK = /^(?:qwerty|asdfgh|zxcvbn|1qaz2wsx|qazwsx)/i

/** `aaaaaa`, `abababab`, `12341234`, `x0x0x0x0` */
const isRepetitive = (value: string): boolean =>
  (value.length >= 6 && /^(.)\1+$/.test(value)) || (value.length >= 8 && (/^(.{2,8}?)\1{2,}$/.test(value) || distinct(value) <= 2))

/** the segment between separators that would hold the random part: `sk_live_<this>`, `xoxb-1-2-<this>` */
const longestSegment = (value: string): string => value.split(SEPARATORS).reduce((longest, part) => (part.length > longest.length ? part : longest), '')

/**
 * Why a value is a placeholder, or undefined when it may be a real secret. `placeholder value` with
 * what gave it away.
 */
export const placeholderReason = (raw: string): string | undefined => {
  const value = raw.trim()
  if (value === '') return 'placeholder value (empty)'
  if (PLACEHOLDER_WORDS.has(value.toLowerCase())) return 'placeholder value'
  if (TEMPLATE.test(value)) return 'placeholder value (template variable)'
  if (BRACKETED.test(value)) return 'placeholder value (bracketed name)'
  if (FILLER_RUN.test(value)) return 'placeholder value (filler characters)'
  if (isRepetitive(value)) return 'placeholder value (repeated characters)'
  if (isSequential(value) || (value.length <= 16 && KEYBOARD_WALK.test(value))) return 'placeholder value (sequential run)'
  const segment = longestSegment(value)
  if (segment !== value && segment.length >= 8 && (isRepetitive(segment) || isSequential(segment))) return 'placeholder value (repeated or sequential body)'
  const parts = value.split(SEPARATORS).filter(Boolean)
  if (parts.length > 1 && parts.some((part) => SEGMENT_WORDS.has(part.toLowerCase()))) return 'placeholder value (placeholder word)'
  if (/^your[a-z_-]*(?:key|token|secret|password)/i.test(value)) return 'placeholder value (instruction)'
  const wordList = words(value)
  if (wordList.length > 1 && (LEADING_INSTRUCTION.has(wordList[0]) || wordList[wordList.length - 1] === 'here')) return 'placeholder value (instruction)'
  // only letters and separators, lower or upper case throughout, naming a credential: `my-secret-pw`
  if (parts.length > 1 && /^[A-Za-z]+(?:[-_.][A-Za-z]+)+$/.test(value) && (value === value.toLowerCase() || value === value.toUpperCase()) && parts.some((part) => CREDENTIAL_WORDS.has(part.toLowerCase()))) {
    return 'placeholder value (a phrase, not a secret)'
  }
  return undefined
}
