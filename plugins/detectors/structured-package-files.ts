/**
 * Package-manager credentials files, parsed: .npmrc (`//host/:_authToken`, base64 `_auth` and
 * `_password`, decoded), .pypirc (the password of an index section) and Maven's settings.xml
 * (`<server>` and `<proxy>` passwords and passphrases). Values are reported under the file's own
 * key, `//npm.pkg.github.com/:_authToken` included, which says which registry to rotate.
 */
import { Buffer } from 'node:buffer'
import type { DetectorMatch, ScanChunk } from '../../core/contracts.ts'
import { isValidNpmToken } from './checksums.ts'
import { credible, defineFileFormatDetector, fileNameOf, type FileFormatDetector, secretOfBasicAuth, unquote, writtenInto } from './file-format.ts'
import { iniEntries } from './structured-cloud-files.ts'

// --- .npmrc ---

const NPMRC_ENTRY = /^[ \t]*(?<key>(?<scope>\/\/[^\s=]*:)?_(?:authToken|auth|password))[ \t]*=[ \t]*(?<value>\S.*?)[ \t]*$/gm

/** `_password` is base64 of the password itself */
const decodedPassword = (value: string): string | undefined => {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return undefined
  const decoded = Buffer.from(value, 'base64').toString('utf8')
  return /^[\x20-\x7e]+$/.test(decoded) ? decoded : undefined
}

const isNpmrcPath = (path: string): boolean => ['.npmrc', 'npmrc'].includes(fileNameOf(path))

function* npmrcCredentials(chunk: ScanChunk): Iterable<DetectorMatch> {
  const inPlace = isNpmrcPath(chunk.path)
  // elsewhere only the registry-scoped keys (`//host/:_authToken=`) or a script writing an .npmrc count
  if (!inPlace && !chunk.text.includes(':_') && !chunk.text.includes('npmrc')) return
  const regions = [{ start: 0, end: chunk.text.length, text: chunk.text }, ...(inPlace ? [] : writtenInto(chunk.text, ['.npmrc', 'npmrc']))]
  for (const region of regions) {
    const inFile = inPlace || region.start > 0 || region.end < chunk.text.length
    for (const entry of region.text.matchAll(NPMRC_ENTRY)) {
      if (!entry.groups) continue
      const { key, scope, value: raw } = entry.groups
      // outside an .npmrc only the registry-scoped form (`//host/:_authToken=`) is unmistakable
      if (!scope && !inFile) continue
      const found = unquote(raw, entry.index + entry[0].lastIndexOf(raw))
      const kind = key.slice(key.lastIndexOf('_'))
      const value = kind === '_auth' ? secretOfBasicAuth(found.value) : kind === '_password' ? decodedPassword(found.value) : found.value
      if (value === undefined || !credible(value, kind === '_authToken' ? 8 : 4)) continue
      const confidence = value.startsWith('npm_') && !isValidNpmToken(value) ? ('low' as const) : undefined
      yield { value, start: region.start + found.start, end: region.start + found.end, key, ...(confidence ? { confidence } : {}) }
    }
  }
}

// --- .pypirc ---

const INDEX_SERVERS = /^index-servers[ \t]*[=:]([^[]*)/m

function* pypircPasswords(chunk: ScanChunk): Iterable<DetectorMatch> {
  const inPlace = fileNameOf(chunk.path) === '.pypirc'
  // elsewhere, only a text with the file's own sections is read as one (cheaply ruled out first)
  if (!inPlace && !/\[(?:pypi|testpypi|distutils)\]|index-servers|\.pypirc/.test(chunk.text)) return
  const regions = [{ start: 0, end: chunk.text.length, text: chunk.text }, ...(inPlace ? [] : writtenInto(chunk.text, ['.pypirc']))]
  for (const region of regions) {
    const inFile = inPlace || region.start > 0 || region.end < chunk.text.length
    const entries = [...iniEntries(region.text)]
    // the index sections: [pypi], [testpypi] and whatever [distutils] index-servers names
    const servers = new Set(['pypi', 'testpypi'])
    // index-servers lists one server a line, indented under the key
    const listed = INDEX_SERVERS.exec(region.text)?.[1]
    if (!inFile && listed === undefined && !entries.some((entry) => entry.section && servers.has(entry.section) && entry.key === 'repository')) continue
    for (const server of listed?.split(/\s+/) ?? []) if (server) servers.add(server)
    for (const entry of entries) {
      if (entry.key !== 'password' || entry.section === undefined || entry.section === 'distutils') continue
      if (!inFile && !servers.has(entry.section)) continue
      if (!credible(entry.value)) continue
      yield { value: entry.value, start: region.start + entry.start, end: region.start + entry.end, key: 'password' }
    }
  }
}

// --- Maven settings.xml ---

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }
const decodeXml = (text: string): string =>
  text.replace(/&(?:(amp|lt|gt|quot|apos)|#(\d+)|#x([0-9a-fA-F]+));/g, (_, name: string, decimal: string, hex: string) =>
    name ? XML_ENTITIES[name] : String.fromCodePoint(decimal ? Number(decimal) : Number.parseInt(hex, 16)),
  )

const MAVEN_BLOCK = /<(server|proxy)>([\s\S]*?)<\/\1>/g
const MAVEN_SECRET = /<(password|passphrase)>([^<]*)<\/\1>/g

function* mavenSettingsPasswords(chunk: ScanChunk): Iterable<DetectorMatch> {
  const { text } = chunk
  if (!/<settings[\s>]/.test(text) || !/<(?:servers|proxies)>/.test(text)) return
  for (const block of text.matchAll(MAVEN_BLOCK)) {
    const bodyStart = block.index + block[1].length + 2
    for (const secret of block[2].matchAll(MAVEN_SECRET)) {
      const raw = secret[2].trim()
      // `{...}` is encrypted with the master password (settings-security.xml), `${...}` a reference
      if (!raw || /^\{.*\}$/.test(raw)) continue
      const value = decodeXml(raw)
      if (!credible(value)) continue
      const start = bodyStart + secret.index + secret[1].length + 2 + secret[2].indexOf(raw)
      yield { value, start, end: start + raw.length, key: secret[1] }
    }
  }
}

const NPMRC = 'registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=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\n@acme:registry=https://npm.pkg.github.com\n//npm.pkg.github.com/:_authToken="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"\n'
const PYPIRC = '[distutils]\nindex-servers =\n    pypi\n    private\n\n[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmcCJUacYNSSlua2wHpCQ4SGSuyi4PfDlaCwL7CJRN_1tyJ2JuHey8MwPTvqCh4fj5yDRpl8\n\n[private]\nrepository = https://pypi.acme-corp.io/simple\nusername = deploy\npassword = Tq9xL2mVr7KzW4pN\n'
const MAVEN_SETTINGS =
  '<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">\n  <servers>\n    <server>\n      <id>releases</id>\n      <username>deploy</username>\n      <password>Xk29fLq8Zt&amp;m4Rv</password>\n    </server>\n  </servers>\n</settings>\n'

export const structuredPackageFileDetectors: FileFormatDetector[] = [
  defineFileFormatDetector({
    id: 'npmrc-credentials',
    name: '.npmrc registry credentials',
    description: 'A registry credential in an .npmrc: an _authToken, or the secret of a base64 _auth (user:secret) or _password, decoded; reported under its registry-scoped key.',
    confidence: 'high',
    keywords: ['_auth', '_password', 'npmrc'],
    detect: npmrcCredentials,
    parsesInPlace: isNpmrcPath,
    examples: [NPMRC, `//nexus.acme-corp.io/repository/npm/:_password=${Buffer.from('Tq9xL2mVr7KzW4pN').toString('base64')}`],
    negatives: ['//registry.npmjs.org/:_authToken=${NPM_TOKEN}', '_auth=ZGVwbG95Ym90OlRxOHZLMm1YcjRMcDlaczY=', '//registry.npmjs.org/:always-auth=true'],
    fileExamples: [
      { path: 'home/node/.npmrc', text: NPMRC },
      { path: 'usr/local/etc/npmrc', text: `_auth=${Buffer.from('deploybot:Tq8vK2mXr4Lp9Zs6').toString('base64')}\nemail=ci@acme-corp.io\n` },
    ],
    fileNegatives: [{ path: 'home/node/.npmrc', text: 'registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n' }],
  }),
  defineFileFormatDetector({
    id: 'pypirc-password',
    name: '.pypirc index password',
    description: 'The password (or API token) of a package index in a .pypirc: [pypi], [testpypi] or a server listed in [distutils] index-servers.',
    confidence: 'high',
    keywords: ['[pypi]', '[testpypi]', '[distutils]', 'index-servers', 'pypirc', 'repository'],
    detect: pypircPasswords,
    examples: [PYPIRC],
    negatives: ['[pypi]\nusername = __token__\npassword = ${PYPI_TOKEN}\n', '[database]\npassword = Tq9xL2mVr7KzW4pN\n'],
    fileExamples: [{ path: 'root/.pypirc', text: '[internal]\nrepository = https://pypi.acme-corp.io\nusername = ci\npassword = W9V1FqVbX8RjoVaeow32\n' }],
    fileNegatives: [{ path: 'root/.pypirc', text: '[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\n' }],
  }),
  defineFileFormatDetector({
    id: 'maven-settings-password',
    name: 'Maven settings.xml password',
    description: 'A repository or proxy password (or key passphrase) in a Maven settings.xml <server> or <proxy> block; encrypted {…} values are left out.',
    confidence: 'high',
    keywords: ['<servers>', '<proxies>'],
    detect: mavenSettingsPasswords,
    examples: [MAVEN_SETTINGS],
    negatives: [
      '<settings>\n  <servers>\n    <server>\n      <id>releases</id>\n      <password>{COQLCE6DU6GtcS5P=}</password>\n    </server>\n  </servers>\n</settings>',
      '<settings>\n  <servers>\n    <server>\n      <password>${env.MAVEN_PASSWORD}</password>\n    </server>\n  </servers>\n</settings>',
      '<project>\n  <servers><server><password>Xk29fLq8Ztm4Rv</password></server></servers>\n</project>',
    ],
    fileExamples: [{ path: 'root/.m2/settings.xml', text: MAVEN_SETTINGS }],
    fileNegatives: [{ path: 'root/.m2/settings.xml', text: '<settings>\n  <mirrors><mirror><id>central</id></mirror></mirrors>\n</settings>\n' }],
  }),
]
