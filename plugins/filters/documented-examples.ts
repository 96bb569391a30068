/**
 * Credentials printed in vendors' documentation and copied into countless READMEs, tutorials and
 * test suites. Finding one in an image means someone copied the docs: the value is public, revoked
 * or never was live. Each entry names where it comes from, for the disposition reason.
 */

const DOCUMENTED_VALUES: ReadonlyMap<string, string> = new Map([
  // AWS IAM and CLI user guides
  ['AKIAIOSFODNN7EXAMPLE', 'AWS documentation'],
  ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'AWS documentation'],
  ['AKIAI44QH8DHBEXAMPLE', 'AWS documentation'],
  ['je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY', 'AWS documentation'],
  // jwt.io's debugger sample (HS256, "John Doe")
  ['eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c', 'jwt.io sample token'],
  // Stripe API reference and quickstarts (test mode keys shown to signed-out readers)
  ['sk_test_4eC39HqLyjWDarjtT1zdp7dc', 'Stripe documentation'],
  ['pk_test_TYooMQauvdEDq54NiTphI7jx', 'Stripe documentation'],
  ['sk_test_BQokikJOvBiI2HlWgH4olfQ2', 'Stripe documentation'],
  ['pk_test_6pRNASCoBOKtIshFeQd4XMUh', 'Stripe documentation'],
  ['sk_test_26PHem9AhJZvU623DfE1x4sd', 'Stripe documentation'],
  // Slack's OAuth v2 guide (oauth.v2.access response)
  ['xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy', 'Slack documentation'],
  // Mailgun's API quickstart (samples.mailgun.org)
  ['key-3ax6xnjp29jd6fds4gc373sgvjxteol0', 'Mailgun documentation'],
  // the Azure Storage emulator / Azurite well-known account key (devstoreaccount1)
  ['Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==', 'Azure Storage emulator well-known key'],
  // a Google API key shape copied through countless examples and scanner tests
  ['AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe', 'widely copied Google API key example'],
  // Docker Hub's official image pages (postgres, mysql/mariadb)
  ['mysecretpassword', 'Docker Hub image documentation'],
  ['my-secret-pw', 'Docker Hub image documentation'],
])

/** the random part of GitHub's documentation token, shown with every prefix (ghp_, gho_, ghu_, ghs_, ghr_) */
const GITHUB_DOCS_BODY = '16C7e42F292c6912E7710c838347Ae178B4a'

/** JWT signatures of sample tokens, whatever payload a tutorial pasted in front of them */
const SAMPLE_JWT_SIGNATURES: ReadonlyMap<string, string> = new Map([
  ['SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c', 'jwt.io sample token'],
  ['4twFt5NiznN84AWoo1d7KO1T_yoc0Z6XOpOVswacPZg', 'PyJWT sample token'],
])

/** documented values long enough to recognise inside a bigger value (a URI, a connection string) */
const EMBEDDABLE = [...DOCUMENTED_VALUES].filter(([value]) => value.length >= 20)

/** Where a documented example value comes from, or undefined for a value that is not one. */
export const documentedExampleSource = (value: string): string | undefined => {
  const exact = DOCUMENTED_VALUES.get(value)
  if (exact) return exact
  if (value.includes(GITHUB_DOCS_BODY)) return 'GitHub documentation'
  const signature = /^eyJ[\w-]*\.[\w-]*\.([\w-]+)$/.exec(value)?.[1]
  if (signature && SAMPLE_JWT_SIGNATURES.has(signature)) return SAMPLE_JWT_SIGNATURES.get(signature)
  for (const [documented, source] of EMBEDDABLE) if (value.includes(documented)) return source
  // AWS's convention, followed by others: documentation keys end in or contain EXAMPLE
  if (/EXAMPLE/.test(value) && value.length >= 16) return 'documentation value marked EXAMPLE'
  return undefined
}
