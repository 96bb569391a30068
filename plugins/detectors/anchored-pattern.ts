/**
 * For formats whose distinctive literal sits deep inside the token at a fixed offset (an Azure key's
 * `+ASt` at character 76, an Azure DevOps PAT's `JQQJ` at 52, Terraform's `.atlasv1.` at 14): a
 * plain regex would start a 50-character class run at every position of the text. Here the literal
 * is found with indexOf and the full pattern is tried once, sticky, where the token would begin.
 */
import type { DetectorMatch, ScanChunk } from '../../core/contracts.ts'
import type { Confidence } from '../../core/result.ts'

export interface AnchoredPatternOptions {
  /** the literal every token contains, case-sensitive */
  anchor: string
  /** where the anchor starts inside the token */
  offset: number
  /** the whole token, boundaries included, with the value in the named group `secret` */
  pattern: RegExp
  /** drop (false), keep (true) or re-grade (a confidence) a candidate */
  validate?: (value: string) => boolean | Confidence
}

export const anchoredPatternDetect = ({ anchor, offset, pattern, validate }: AnchoredPatternOptions) =>
  function* detect(chunk: ScanChunk): Iterable<DetectorMatch> {
    const sticky = new RegExp(pattern.source, 'yd')
    const { text } = chunk
    for (let at = text.indexOf(anchor, offset); at >= 0; at = text.indexOf(anchor, at + 1)) {
      sticky.lastIndex = at - offset
      const match = sticky.exec(text)
      const span = match?.indices?.groups?.secret
      if (!match || !span) continue
      const value = text.slice(span[0], span[1])
      const verdict = validate ? validate(value) : true
      if (verdict === false) continue
      yield { value, start: span[0], end: span[1], ...(verdict === true ? {} : { confidence: verdict }) }
    }
  }
