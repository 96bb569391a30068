/**
 * Canary tokens: AWS keys from the accounts canarytokens.org and look-alike services use are
 * suppressed as canaries (named with their account and service), in a scan as in the filter alone.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadDetection } from '../cli/detection-setup.ts'
import type { MatchContext } from '../core/contracts.ts'
import { scanReference } from '../core/scan.ts'
import { AWS_CANARY_ACCOUNT_IDS } from '../plugins/detectors/aws.ts'
import { canaryFilter } from '../plugins/filters/canary.ts'
import { buildImage } from '../plugins/sources/image-builder.ts'
import { ociLayoutSource } from '../plugins/sources/oci-layout.ts'
import { writeOciLayout } from '../plugins/sources/oci-layout-writer.ts'
import { awsKeyIdForAccount, awsKeyPair } from './support/fake-secrets.ts'

const filter = canaryFilter()
const match = (fields: Partial<MatchContext>): MatchContext => ({
  detectorId: 'aws-access-key-id',
  confidence: 'high',
  value: '',
  sourceType: 'file_final',
  path: 'root/.aws/credentials',
  key: '',
  line: '',
  ...fields,
})

describe('the canary filter', () => {
  it.each([...AWS_CANARY_ACCOUNT_IDS])('reports keys of account %s as %s canaries', (account, service) => {
    const keyId = awsKeyIdForAccount(account)
    expect(filter.classify(match({ value: keyId, line: `aws_access_key_id = ${keyId}` }))).toEqual({
      disposition: 'suppressed',
      reason: `canary token (account ${account}, ${service})`,
    })
  })

  it('knows a secret key by the canary key id on its line', () => {
    const keyId = awsKeyIdForAccount('052310077262')
    const { secret } = awsKeyPair()
    expect(filter.classify(match({ detectorId: 'aws-secret-access-key-paired', value: secret, line: `${keyId}:${secret}` }))?.reason).toBe(
      'canary token (account 052310077262, canarytokens.org)',
    )
  })

  it('has no opinion on other accounts, or on other detectors near a canary', () => {
    const { id, secret } = awsKeyPair()
    expect(filter.classify(match({ value: id, line: `aws_access_key_id = ${id}` }))).toBeUndefined()
    const canary = awsKeyIdForAccount('717712589309')
    expect(filter.classify(match({ detectorId: 'github-personal-access-token', value: 'ghp_x', line: `${canary} ghp_x` }))).toBeUndefined()
    expect(filter.classify(match({ detectorId: 'aws-secret-access-key', value: secret, line: `aws_secret_access_key = ${secret}` }))).toBeUndefined()
  })

  it('treats a low-graded AWS secret key as the secret of a canary key id', () => {
    const { secret } = awsKeyPair()
    expect(filter.classify(match({ detectorId: 'aws-secret-access-key', confidence: 'low', value: secret, line: `aws_secret_access_key = ${secret}` }))?.reason).toBe(
      'canary token (the secret key of a canary key id)',
    )
  })

  it('in a scan, reports a canary credentials file as canaries and a real one as leaks', async () => {
    const canary = { id: awsKeyIdForAccount('992382622183'), secret: awsKeyPair().secret }
    const real = awsKeyPair()
    const credentials = (pair: { id: string; secret: string }) => `[default]\naws_access_key_id = ${pair.id}\naws_secret_access_key = ${pair.secret}\noutput = json\nregion = us-east-2\n`
    const dir = await mkdtemp(join(tmpdir(), 'layerleak-canary-'))
    const image = await buildImage({
      layers: [{ files: [{ path: 'home/ops/.aws/credentials', content: credentials(canary) }, { path: 'root/.aws/credentials', content: credentials(real) }] }],
    })
    await writeOciLayout(dir, image, { tag: 't' })
    const { detectors, filters } = await loadDetection({ config: {} })
    const result = await scanReference({ reference: `oci:${dir}:t`, sources: [ociLayoutSource()], detectors, filters })
    expect(result.findings.map((finding) => [finding.detector_name, finding.occurrences[0].file_path]).sort()).toEqual([
      ['aws-access-key-id', 'root/.aws/credentials'],
      ['aws-secret-access-key', 'root/.aws/credentials'],
    ])
    expect(result.suppressed_findings.map((finding) => [finding.detector_name, finding.disposition_reason]).sort()).toEqual([
      ['aws-access-key-id', 'canary token (account 992382622183, canarytokens.org)'],
      ['aws-secret-access-key', 'canary token (the secret key of a canary key id)'],
    ])
  })
})
