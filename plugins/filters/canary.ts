/**
 * Canary tokens: AWS keys minted by canarytokens.org (and look-alike services) as tripwires. Using
 * one alerts whoever planted it; it grants nothing. A key whose account id (decoded offline from
 * the key id) is a known canary account is reported as a canary, not a leak, and so is the secret
 * access key beside it.
 */
import type { Filter, MatchContext } from '../../core/contracts.ts'
import { AWS_CANARY_ACCOUNT_IDS, awsAccountIdFromKeyId } from '../detectors/aws.ts'
import { filterCacheKey } from './cache-key.ts'

const KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}(?![A-Za-z0-9])/g

const canaryIn = (text: string): { account: string; service: string } | undefined => {
  for (const [keyId] of text.matchAll(KEY_ID)) {
    // keys of some canary accounts start AKIAI/AKIAJ like legacy keys: decode those too (see awsCanaryService)
    const account = awsAccountIdFromKeyId(keyId, { legacyPrefixToo: true })
    const service = account ? AWS_CANARY_ACCOUNT_IDS.get(account) : undefined
    if (account && service) return { account, service }
  }
  return undefined
}

const SECRET_KEY_DETECTORS = new Set(['aws-secret-access-key', 'aws-secret-access-key-paired'])

export const canaryFilter = (): Filter => ({
  name: 'canary',
  cacheKey: filterCacheKey('canary', canaryFilter, canaryIn, KEY_ID, AWS_CANARY_ACCOUNT_IDS, awsAccountIdFromKeyId, SECRET_KEY_DETECTORS),
  classify(match: MatchContext) {
    // a key id is the value itself; a secret key is known by the key id on its line
    const canary = canaryIn(match.value) ?? (match.detectorId.startsWith('aws') ? canaryIn(match.line) : undefined)
    if (canary) return { disposition: 'suppressed', reason: `canary token (account ${canary.account}, ${canary.service})` }
    // a secret key on another line than its canary key id: the AWS detectors grade those, and only those, low
    const secretKey = SECRET_KEY_DETECTORS.has(match.detectorId) || (match.detectorId === 'aws-credentials-file' && /secret_access_key$/i.test(match.key))
    if (secretKey && match.confidence === 'low') {
      return { disposition: 'suppressed', reason: 'canary token (the secret key of a canary key id)' }
    }
    return undefined
  },
})
