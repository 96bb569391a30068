/**
 * Repository names hold slashes (`library/alpine`, `org/team/app`), so routes take them from a
 * wildcard: `/api/v1/repositories/org/team/app/findings`. The last segment names the resource,
 * everything before it the repository. Each segment is percent-decoded on its own, so
 * `library%2Falpine` works too; empty, dot and malformed segments are refused, not guessed at.
 */
import { LayerleakError } from '../core/errors.ts'
import { REPOSITORY_NAME } from './schemas.ts'

const invalid = (message: string) => new LayerleakError('INVALID_ARGUMENT', message)

/** The repository name in `pathname` after `prefix` (and before `suffixes`' one, when given). */
export const parseRepositoryPath = <S extends string>(pathname: string, prefix: string, suffixes: readonly S[]): { name: string; resource: S | undefined } => {
  const rest = pathname.slice(prefix.length).replace(/\/+$/, '')
  const segments = rest.split('/')
  let resource: S | undefined
  if (suffixes.length > 0) {
    const last = segments.at(-1) as string
    if (!suffixes.includes(last as S) || segments.length < 2) throw new LayerleakError('NOT_FOUND', `no such endpoint: ${pathname} (expected …/{repository}/${suffixes.join(' or …/{repository}/')})`)
    resource = segments.pop() as S
  }
  const parts: string[] = []
  for (const segment of segments) {
    let decoded: string
    try {
      decoded = decodeURIComponent(segment)
    } catch {
      throw invalid(`the repository path segment "${segment}" is not valid percent-encoding`)
    }
    parts.push(...decoded.split('/'))
  }
  const name = parts.join('/')
  if (!name || !REPOSITORY_NAME.test(name) || name.length > 255) {
    throw invalid(`"${name}" is not a repository name (lower-case components separated by /, e.g. library/alpine)`)
  }
  return { name, resource }
}
