/**
 * Go (RE2) regular expressions, as gitleaks rule files hold them, translated to JavaScript ones.
 * What has a faithful translation is translated: flag groups (`(?i)`, `(?i:…)`, `(?-i:…)`, `(?s)`,
 * `(?m)`, set mid-pattern too), `(?P<name>…)`, `\z` and `\A`, `\Q…\E`, POSIX classes
 * (`[[:alpha:]]`), `\x{…}`, octal escapes, a leading `]` in a class. What has none (Unicode
 * classes `\pL` without the `u` flag, the ungreedy flag `U`, `\C`, negated POSIX classes) is
 * rejected with a message saying which construct.
 *
 * Case-insensitivity uses the `i` flag when it covers the whole pattern; where it covers only part
 * (`(?i:…)`, a mid-pattern `(?i)`, `(?-i:…)` inside an insensitive pattern) each letter becomes a
 * two-case class, since Node 20 has no inline modifiers. `.` in `s` mode becomes `[\s\S]`, and
 * `^`/`$` in `m` mode become line lookarounds, so no other JS flag is ever needed.
 */

export class UntranslatableRegExpError extends Error {
  override readonly name = 'UntranslatableRegExpError'
}

interface Flags {
  i: boolean
  s: boolean
  m: boolean
}

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
}

const isLetter = (char: string): boolean => /^[A-Za-z]$/.test(char)
const otherCase = (char: string): string => (char === char.toLowerCase() ? char.toUpperCase() : char.toLowerCase())

/** a character as it may appear inside a JS class */
const classChar = (code: number): string => {
  const char = String.fromCharCode(code)
  if (/[\\\]\[^-]/.test(char)) return `\\${char}`
  if (code > 0x20 && code < 0x7f) return char
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
}

/** the other-case counterparts of a range, for case-insensitive classes */
const caseFoldRange = (from: number, to: number): string => {
  let extra = ''
  const overlap = (lo: number, hi: number, shift: number) => {
    const start = Math.max(from, lo)
    const end = Math.min(to, hi)
    if (start <= end) extra += `${classChar(start + shift)}-${classChar(end + shift)}`
  }
  overlap(0x61, 0x7a, -0x20) // a-z -> A-Z
  overlap(0x41, 0x5a, 0x20) // A-Z -> a-z
  return extra
}

const hexEscape = (code: number): string => (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`)

/** `(?i)` opening the pattern with no `-i` anywhere: the whole pattern is insensitive, the `i` flag fits */
const wholePatternInsensitive = (pattern: string): boolean =>
  /^\(\?[imsU]*i[imsU]*\)/.test(pattern) && !/\(\?[imsU]*-[imsU]*i/.test(pattern)

export interface TranslatedRegExp {
  source: string
  flags: string
}

export const translateGoRegExp = (pattern: string): TranslatedRegExp => {
  const useFlagI = wholePatternInsensitive(pattern)
  let out = ''
  let pos = 0
  let flags: Flags = { i: false, s: false, m: false }
  const saved: Flags[] = []

  const fail = (what: string): never => {
    throw new UntranslatableRegExpError(`${what} (offset ${pos}) cannot be translated to JavaScript`)
  }

  const literal = (char: string): string => {
    if (flags.i && !useFlagI && isLetter(char)) return `[${char}${otherCase(char)}]`
    return /[.*+?^${}()|[\]\\/]/.test(char) ? `\\${char}` : char
  }

  /** `\x41`, `\x{41}`, `\101`: a code point, or undefined when the escape is not one of these */
  const codePointEscape = (): number | undefined => {
    const rest = pattern.slice(pos)
    const braced = /^\\x\{([0-9A-Fa-f]{1,6})\}/.exec(rest)
    if (braced) {
      pos += braced[0].length
      const code = Number.parseInt(braced[1], 16)
      if (code > 0xffff) fail(`\\x{${braced[1]}} (a code point beyond the BMP)`)
      return code
    }
    const hex = /^\\x([0-9A-Fa-f]{2})/.exec(rest)
    if (hex) {
      pos += hex[0].length
      return Number.parseInt(hex[1], 16)
    }
    const octal = /^\\([0-7]{1,3})/.exec(rest)
    if (octal && !(octal[1] === '0' && !/[0-7]/.test(rest[2] ?? ''))) {
      pos += octal[0].length
      return Number.parseInt(octal[1], 8)
    }
    return undefined
  }

  const unsupportedEscape = (letter: string) => {
    if (letter === 'p' || letter === 'P') fail(`the Unicode class \\${letter}`)
    if (letter === 'C') fail('\\C (any byte)')
  }

  /** an escape outside a class */
  const escape = () => {
    const code = codePointEscape()
    if (code !== undefined) {
      const char = String.fromCharCode(code)
      out += flags.i && !useFlagI && isLetter(char) ? `[${char}${otherCase(char)}]` : hexEscape(code)
      return
    }
    const letter = pattern[pos + 1]
    if (letter === undefined) fail('a trailing backslash')
    unsupportedEscape(letter)
    pos += 2
    if (letter === 'z') out += '$'
    else if (letter === 'A') out += '^'
    else if (letter === 'a') out += '\\x07'
    else if (letter === 'Q') {
      const end = pattern.indexOf('\\E', pos)
      const text = pattern.slice(pos, end === -1 ? undefined : end)
      out += [...text].map(literal).join('')
      pos = end === -1 ? pattern.length : end + 2
    } else out += `\\${letter}`
  }

  /** a bracketed class, from `[` to its `]` */
  const characterClass = () => {
    pos++
    let negated = false
    if (pattern[pos] === '^') {
      negated = true
      pos++
    }
    let body = ''
    let first = true
    /** one class member: a character code, or undefined for a class escape already written */
    const member = (): number | undefined => {
      const char = pattern[pos]
      if (char === '\\') {
        const code = codePointEscape()
        if (code !== undefined) return code
        const letter = pattern[pos + 1]
        if (letter === undefined) fail('a trailing backslash')
        unsupportedEscape(letter)
        if (letter === 'Q') fail('\\Q inside a class')
        pos += 2
        if ('dDwWsS'.includes(letter)) {
          body += `\\${letter}`
          return undefined
        }
        const named: Record<string, number> = { n: 10, t: 9, r: 13, f: 12, v: 11, a: 7 }
        return named[letter] ?? letter.charCodeAt(0)
      }
      pos++
      return char.charCodeAt(0)
    }
    for (;;) {
      if (pos >= pattern.length) fail('an unterminated class')
      const char = pattern[pos]
      if (char === ']' && !first) break
      first = false
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(pattern.slice(pos))
      if (posix) {
        if (posix[1]) fail(`the negated POSIX class [:^${posix[2]}:]`)
        const ranges = POSIX_CLASSES[posix[2]]
        if (!ranges) fail(`the POSIX class [:${posix[2]}:]`)
        body += ranges
        pos += posix[0].length
        continue
      }
      const from = member()
      if (from === undefined) continue
      let to = from
      if (pattern[pos] === '-' && pattern[pos + 1] !== ']' && pos + 1 < pattern.length) {
        pos++
        const end = member()
        if (end === undefined) fail('a range ending in a class escape')
        to = end as number
      }
      body += from === to ? classChar(from) : `${classChar(from)}-${classChar(to)}`
      if (flags.i && !useFlagI) body += caseFoldRange(from, to)
    }
    pos++
    out += `[${negated ? '^' : ''}${body}]`
  }

  /** `(?flags)` or `(?flags:`: returns the flags it sets, and whether it opens a group */
  const flagGroup = (): { next: Flags; opens: boolean } => {
    const match = /^\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])/.exec(pattern.slice(pos))
    if (!match) fail(`the group ${pattern.slice(pos, pos + 4)}… (not RE2 syntax: gitleaks would reject it too)`)
    const [whole, on = '', off = '', end] = match as RegExpExecArray
    const next = { ...flags }
    for (const [letters, value] of [[on, true], [off, false]] as const) {
      for (const flag of letters) {
        if (flag === 'U') fail('the ungreedy flag U')
        if (flag !== 'i' && flag !== 's' && flag !== 'm') fail(`the flag ${flag}`)
        next[flag as keyof Flags] = value
      }
    }
    pos += whole.length
    return { next, opens: end === ':' }
  }

  while (pos < pattern.length) {
    const char = pattern[pos]
    if (char === '\\') escape()
    else if (char === '[') characterClass()
    else if (char === '(') {
      const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(pattern.slice(pos))
      if (named) {
        saved.push(flags)
        out += `(?<${named[1]}>`
        pos += named[0].length
      } else if (pattern.startsWith('(?P<', pos) || pattern.startsWith('(?<', pos)) {
        fail('a group name that is not a JavaScript identifier')
      } else if (pattern.startsWith('(?', pos)) {
        const { next, opens } = flagGroup()
        if (opens) {
          saved.push(flags)
          out += '(?:'
        }
        flags = next
      } else {
        saved.push(flags)
        out += '('
        pos++
      }
    } else if (char === ')') {
      const restored = saved.pop()
      if (!restored) fail('an unmatched )')
      flags = restored as Flags
      out += ')'
      pos++
    } else if (char === '.') {
      out += flags.s ? '[\\s\\S]' : '.'
      pos++
    } else if (char === '^') {
      out += flags.m ? '(?<![^\\n])' : '^'
      pos++
    } else if (char === '$') {
      out += flags.m ? '(?![^\\n])' : '$'
      pos++
    } else if (char === '{') {
      // a repetition is copied as written; a brace that is not one is a literal in both dialects
      const repetition = /^\{\d+(?:,\d*)?\}/.exec(pattern.slice(pos))
      out += repetition ? repetition[0] : '\\{'
      pos += repetition ? repetition[0].length : 1
    } else {
      out += flags.i && !useFlagI && isLetter(char) ? `[${char}${otherCase(char)}]` : char
      pos++
    }
  }
  if (saved.length > 0) fail('an unclosed (')
  return { source: out, flags: useFlagI ? 'i' : '' }
}
