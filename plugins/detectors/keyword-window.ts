/**
 * Builds the regex for formats that are distinctive but not unique enough to stand alone (a bot
 * token's shape, `sk-` + 32 hex, `key-` + 32 hex): the value is believed when one of a few keywords
 * precedes it closely, within `distance` characters and line breaks included, as TruffleHog's
 * keyword proximity does. Unlike keyValuePattern (key-value-pattern.ts) the keyword need not be the
 * value's key: `https://api.telegram.org/bot<token>`, `mailgun:\n  key: key-...` match too.
 * Keywords match in any case, the value exactly.
 */

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\]/

/** `api.telegram` -> `[aA][pP][iI]\.[tT]...`: Node 20 has no inline `(?i)`. */
export const anyCase = (literal: string): string =>
  [...literal]
    .map((char) => {
      if (/[a-z]/i.test(char)) return `[${char.toLowerCase()}${char.toUpperCase()}]`
      return REGEX_SPECIAL.test(char) ? `\\${char}` : char
    })
    .join('')

export interface KeywordWindowOptions {
  /** literal keywords, any of which may precede the value */
  keywords: readonly string[]
  /** the value's regex source, case-sensitive */
  value: string
  /** how many characters may separate the keyword's end from the value; default 40 */
  distance?: number
  /** what may not precede the value; default: no letter, digit, `_` or `-` (no match inside a longer token) */
  lead?: string
  /** what may not follow the value; default: no letter, digit, `_` or `-` */
  tail?: string
}

/** `<keyword><up to distance chars, lazily><value>`, with the value in the named group `secret`. */
export const keywordWindowPattern = ({
  keywords,
  value,
  distance = 40,
  lead = '(?<![A-Za-z0-9_-])',
  tail = '(?![A-Za-z0-9_-])',
}: KeywordWindowOptions): RegExp =>
  new RegExp(`(?:${keywords.map(anyCase).join('|')})[\\s\\S]{0,${distance}}?${lead}(?<secret>${value})${tail}`)
