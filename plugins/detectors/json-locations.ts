/**
 * JSON that remembers where its strings are: file-format detectors report a value at its offsets,
 * and JSON.parse forgets them. A small recursive-descent parser over the standard grammar; strings
 * keep the offsets of their content (between the quotes) and their decoded value.
 */

export type JsonNode =
  | { kind: 'object'; entries: { key: string; value: JsonNode }[]; start: number; end: number }
  | { kind: 'array'; items: JsonNode[]; start: number; end: number }
  | { kind: 'string'; value: string; start: number; end: number }
  | { kind: 'scalar'; start: number; end: number }

/** how deep documents nest before the parser gives up (no file format here nests past a handful) */
const MAX_DEPTH = 64

class JsonSyntaxError extends Error {}

const WHITESPACE = /[ \t\r\n]*/y
const SCALAR = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y

/** Parses the JSON value starting at `from` (after whitespace); undefined when it is not JSON. */
export const parseJsonAt = (text: string, from = 0): JsonNode | undefined => {
  let at = from
  const skip = () => {
    WHITESPACE.lastIndex = at
    WHITESPACE.exec(text)
    at = WHITESPACE.lastIndex
  }
  const expect = (char: string) => {
    if (text[at] !== char) throw new JsonSyntaxError(`expected ${char} at ${at}`)
    at++
  }
  const string = (): { value: string; start: number; end: number } => {
    expect('"')
    const start = at
    // find the closing quote by hand (a regex would backtrack over megabytes); JSON.parse checks the rest
    let end = at
    for (;;) {
      const quote = text.indexOf('"', end)
      if (quote === -1) throw new JsonSyntaxError('unterminated string')
      let backslashes = 0
      for (let i = quote - 1; i >= start && text[i] === '\\'; i--) backslashes++
      end = quote
      if (backslashes % 2 === 0) break
      end = quote + 1
    }
    at = end + 1
    return { value: JSON.parse(text.slice(start - 1, end + 1)) as string, start, end }
  }
  const value = (depth: number): JsonNode => {
    if (depth > MAX_DEPTH) throw new JsonSyntaxError('too deep')
    skip()
    const start = at
    const char = text[at]
    if (char === '"') return { kind: 'string', ...string() }
    if (char === '{') {
      at++
      const entries: { key: string; value: JsonNode }[] = []
      skip()
      if (text[at] === '}') {
        at++
        return { kind: 'object', entries, start, end: at }
      }
      for (;;) {
        skip()
        const key = string().value
        skip()
        expect(':')
        entries.push({ key, value: value(depth + 1) })
        skip()
        if (text[at] === ',') {
          at++
          continue
        }
        expect('}')
        return { kind: 'object', entries, start, end: at }
      }
    }
    if (char === '[') {
      at++
      const items: JsonNode[] = []
      skip()
      if (text[at] === ']') {
        at++
        return { kind: 'array', items, start, end: at }
      }
      for (;;) {
        items.push(value(depth + 1))
        skip()
        if (text[at] === ',') {
          at++
          continue
        }
        expect(']')
        return { kind: 'array', items, start, end: at }
      }
    }
    SCALAR.lastIndex = at
    if (!SCALAR.exec(text)) throw new JsonSyntaxError(`unexpected ${char ?? 'end'} at ${at}`)
    at = SCALAR.lastIndex
    return { kind: 'scalar', start, end: at }
  }
  try {
    return value(0)
  } catch (error) {
    if (error instanceof JsonSyntaxError || error instanceof SyntaxError) return undefined
    throw error
  }
}

/**
 * The JSON objects in a text that may hold other things too (comments before a document, a JSON
 * document in a heredoc): each `{` that starts a line and parses, at most `limit` tries.
 */
export function* jsonObjectsIn(text: string, limit = 32): Iterable<Extract<JsonNode, { kind: 'object' }>> {
  let tries = 0
  for (let at = text.indexOf('{'); at !== -1 && tries < limit; ) {
    const lineStart = text.lastIndexOf('\n', at - 1) + 1
    if (at !== 0 && text.slice(lineStart, at).trim() !== '' && !/[=:]\s*['"]?$/.test(text.slice(lineStart, at))) {
      at = text.indexOf('{', at + 1)
      continue
    }
    tries++
    const node = parseJsonAt(text, at)
    if (node?.kind === 'object') {
      yield node
      at = text.indexOf('{', node.end)
    } else at = text.indexOf('{', at + 1)
  }
}

/** The value under `key` in an object node. */
export const member = (node: JsonNode | undefined, key: string): JsonNode | undefined =>
  node?.kind === 'object' ? node.entries.find((entry) => entry.key === key)?.value : undefined

/** The string under `key`, with its offsets. */
export const stringMember = (node: JsonNode | undefined, key: string): Extract<JsonNode, { kind: 'string' }> | undefined => {
  const found = member(node, key)
  return found?.kind === 'string' ? found : undefined
}
