/**
 * Builds the regex for formats with no distinctive prefix: a secret is only believable when it sits
 * right after a telling key (`HEROKU_API_KEY=...`, `"cloudflare_token": "..."`, `heroku.key: ...`).
 * The key is matched case-insensitively, the value case-sensitively (Node 20 has no inline `(?i)`,
 * so key letters are expanded to `[hH]` classes).
 */

/**
 * A key is written lower-case; `_` stands for an optional separator (`_`, `.`, `-` or nothing), so
 * `api_key` matches `API_KEY`, `api.key`, `apiKey`, `api-key`.
 */
const keySource = (key: string): string => {
  let out = ''
  for (const char of key) {
    if (char === '_') out += '[_.-]?'
    else if (/[a-z]/.test(char)) out += `[${char}${char.toUpperCase()}]`
    else if (/[0-9]/.test(char)) out += char
    else out += `\\${char}`
  }
  return out
}

export interface KeyValueOptions {
  /** key words (see keySource); the first that matches is reported as the match's `key` */
  keys: readonly string[]
  /** the value's regex source, case-sensitive */
  value: string
  /** what may not follow the value; default: no letter, digit, `_` or `-` */
  tail?: string
  /** how many identifier characters may sit between the key word and the separator (`heroku` + `_api_key`) */
  gap?: number
}

/**
 * `<key><up to gap identifier chars><quote?><spaces><= : := => or spaces><spaces><quote?><value>`,
 * with named groups `key` (the key as written, gap included) and `secret`.
 */
export const keyValuePattern = ({ keys, value, tail = '(?![A-Za-z0-9_-])', gap = 24 }: KeyValueOptions): RegExp => {
  const key = `(?<key>(?:${keys.map(keySource).join('|')})[A-Za-z0-9_.-]{0,${gap}}?)`
  const separator = `["'\`]?[ \\t]{0,4}(?:=>|:=|=|:|[ \\t])[ \\t]{0,4}["'\`]?`
  return new RegExp(`${key}${separator}(?<secret>${value})${tail}`)
}

/**
 * For a `validate`: false when the key the value sat under names an identifier (`PAYPAL_CLIENT_ID`,
 * `HEROKU_APP_ID`), which shares its shape with the secret but is not one.
 */
export const keyIsNotAnId = (_value: string, match: RegExpExecArray): boolean =>
  !/(?:^|[_.-]|[a-z])(?:id|ID|Id|uuid|UUID|url|URL|user|USER|name|NAME)$/.test(match.groups?.key ?? '')

/** Hex UUID, either case, as many services use for keys. */
export const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'
