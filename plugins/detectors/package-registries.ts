/**
 * Package registries: npm (and yarn), PyPI, RubyGems, NuGet, crates.io/Cargo, Packagist, Hex,
 * Clojars, Conan, the Gradle plugin portal and Cloudsmith. A leaked publish token lets anyone ship
 * a new version of every package its owner maintains, so these are among the worst leaks an image
 * can carry. npm tokens carry a CRC32 checksum that is verified offline.
 */
import { type DetectorDefinition, defineDetector } from '../../core/detector.ts'
import { decodeBase64, isValidNpmToken } from './checksums.ts'
import { keyValuePattern } from './key-value-pattern.ts'

const hasDigitAndLetter = (value: string): boolean => /[0-9]/.test(value) && /[A-Za-z]/.test(value)
const hasMixedCase = (value: string): boolean => /[a-z]/.test(value) && /[A-Z]/.test(value)

/** `_auth` in .npmrc is base64 of `user:password` */
const isBase64Credentials = (value: string): boolean => {
  const bytes = decodeBase64(value)
  if (!bytes || bytes.length < 3) return false
  const text = new TextDecoder().decode(bytes)
  return /^[\x21-\x7e]+:[\x20-\x7e]+$/.test(text)
}

const placeholder = /^(?:\$\{?[\w.]+\}?|\$\(\w+\)|<[^>]*>|\*+|x+|changeme|password|secret|token)$/i
const notPlaceholder = (value: string): boolean => !placeholder.test(value)

const npm: DetectorDefinition[] = [
  defineDetector({
    id: 'npm-access-token',
    name: 'npm access token',
    description: 'An npm access token (npm_); the CRC32 checksum is verified and a token failing it is graded low.',
    confidence: 'high',
    binary: true,
    keywords: ['npm_'],
    pattern: /(?<![A-Za-z0-9_])(?<secret>npm_[A-Za-z0-9]{36})(?![A-Za-z0-9_])/,
    validate: (value) => isValidNpmToken(value) || 'low',
    minEntropy: 3.5,
    examples: ['//registry.npmjs.org/:_authToken=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', 'NPM_TOKEN=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'],
    negatives: ['npm_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'npm_t7Quf69zyJgXi8ZH4tyZakdtQ7JCCr', 'npm_config_registry=https://registry.npmjs.org/'],
  }),
  defineDetector({
    id: 'npmrc-auth-token',
    name: 'npm registry auth token (.npmrc)',
    description: 'An _authToken in an .npmrc (npmjs, GitHub Packages, Artifactory, Nexus, Verdaccio...).',
    confidence: 'high',
    keywords: ['_authtoken'],
    pattern: /(?<key>_authToken)\s*=\s*["']?(?<secret>[A-Za-z0-9._~+/=-]{20,512})(?![A-Za-z0-9._~+/=-])/,
    validate: notPlaceholder,
    minEntropy: 3.5,
    examples: [
      '//registry.npmjs.org/:_authToken=9bb9bd20-23c8-9a49-af78-478014598179',
      '//npm.pkg.github.com/:_authToken=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',
      '//acme.jfrog.io/artifactory/api/npm/npm/:_authToken=eyJ2ZXIiOiIyIiwidHlwIjoiSldUIiwiYWxnIjoiUlMyNTYiLCJraWQiOiIf6-U940DDTopX6qE5knS4YuR3G-1AZxWYxCwKmfA',
    ],
    negatives: ['//registry.npmjs.org/:_authToken=${NPM_TOKEN}', '//registry.npmjs.org/:_authToken=<token>', '_authToken=aaaaaaaaaaaaaaaaaaaaaaaa'],
  }),
  defineDetector({
    id: 'npmrc-basic-auth',
    name: 'npm registry basic credentials (.npmrc _auth)',
    description: 'An _auth in an .npmrc: base64 of user:password for the registry.',
    confidence: 'high',
    keywords: ['_auth'],
    pattern: /(?<![A-Za-z0-9])(?<key>_auth)\s*=\s*["']?(?<secret>[A-Za-z0-9+/]{8,400}={0,2})(?![A-Za-z0-9+/=])/,
    validate: isBase64Credentials,
    examples: ['_auth=ZGVwbG95Ym90OlRxOHZLMm1YcjRMcDlaczY=', '//nexus.acme.io/repository/npm/:_auth="YWNtZS1jaTpoUjd2UTJ4TmtMOXBXNHpC"'],
    negatives: ['_auth=${NPM_AUTH}', '_auth=bm90LWEtY3JlZGVudGlhbA==', 'always-auth=true'],
  }),
  defineDetector({
    id: 'yarn-npm-auth-token',
    name: 'Yarn registry auth token (.yarnrc.yml)',
    description: 'An npmAuthToken in a .yarnrc.yml.',
    confidence: 'high',
    keywords: ['npmauthtoken'],
    pattern: /(?<key>npmAuthToken)\s*:\s*["']?(?<secret>[A-Za-z0-9._~+/=-]{20,512})(?![A-Za-z0-9._~+/=-])/,
    validate: notPlaceholder,
    minEntropy: 3.5,
    examples: ['npmScopes:\n  acme:\n    npmAuthToken: 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\n    npmRegistryServer: "https://registry.npmjs.org"'],
    negatives: ['npmAuthToken: "${NPM_TOKEN}"', 'npmAuthToken: "${NPM_TOKEN:-}"'],
  }),
]

const python: DetectorDefinition[] = [
  defineDetector({
    id: 'pypi-upload-token',
    name: 'PyPI API token',
    description: 'A PyPI upload token (a macaroon for pypi.org: pypi-AgEIcHlwaS5vcmc...).',
    confidence: 'high',
    binary: true,
    keywords: ['pypi-ageichlwas5vcmc'],
    pattern: /(?<![A-Za-z0-9_-])(?<secret>pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,1000})(?![A-Za-z0-9_-])/,
    minEntropy: 4,
    examples: ['[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmcCJUacYNSSlua2wHpCQ4SGSuyi4PfDlaCwL7CJRN_1tyJ2JuHey8MwPTvqCh4fj5yDRpl8jpMQUVPfeKbNLNDCJaAcgj4qKowg6JjtafM2KCIrRoLJS8e8ao04bk3HrmjyY0sbVWqNtWB8GjmqO1wNV3HkAF_3kRvck'],
    negatives: ['pypi-AgEIcHlwaS5vcmcOttfPIlUBUNUcVQzTDSY', 'password = pypi-<your-token>'],
  }),
  defineDetector({
    id: 'pypi-test-upload-token',
    name: 'TestPyPI API token',
    description: 'A TestPyPI upload token (test.pypi.org): low stakes, but often a sign that real tokens sit nearby.',
    confidence: 'low',
    keywords: ['pypi-agendgvzdc5wexbplm9yz'],
    pattern: /(?<![A-Za-z0-9_-])(?<secret>pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9_-]{50,1000})(?![A-Za-z0-9_-])/,
    minEntropy: 4,
    examples: ['TWINE_PASSWORD=pypi-AgENdGVzdC5weXBpLm9yZwIkr4iT0PnVmUwuxiu19FUj8vVxDrhptQCdk63VbZ8pmWDhsOWrAXv0xpsJqURsZmJQUkkKe4PhQEkXCYXIX250dO8vemiC2eFPbWSmjAAgFACJcwRQ0sIem_8ZPteSJ_ZJ5L2hqKnsXjJVT9NxY0SHOy'],
    negatives: ['pypi-AgENdGVzdC5weXBpLm9yZwXOOYyqXh3I'],
  }),
]

const otherEcosystems: DetectorDefinition[] = [
  defineDetector({
    id: 'rubygems-api-key',
    name: 'RubyGems API key',
    description: 'A RubyGems.org API key (rubygems_).',
    confidence: 'high',
    binary: true,
    keywords: ['rubygems_'],
    pattern: /(?<![A-Za-z0-9_])(?<secret>rubygems_[a-f0-9]{48})(?![A-Za-z0-9_])/,
    minEntropy: 3.3,
    examples: ['---\n:rubygems_api_key: rubygems_64cc9eb59b3308f45965cd6257de9703d07aabad7341fe8c', 'GEM_HOST_API_KEY=rubygems_d9eb444602b0c2f4ee801c687957566ce6b0a04912615d5c'],
    negatives: ['rubygems_e803efa831243b36df1b821cdf9af2e8be0994b1', 'rubygems_version: 3.4.10'],
  }),
  defineDetector({
    id: 'rubygems-api-key-legacy',
    name: 'RubyGems API key (legacy)',
    description: 'A pre-2022 RubyGems.org API key (32 hex) in ~/.gem/credentials or GEM_HOST_API_KEY.',
    confidence: 'high',
    keywords: ['rubygems_api_key', 'gem_host_api_key'],
    pattern: keyValuePattern({ keys: ['rubygems_api_key', 'gem_host_api_key'], value: '[a-f0-9]{32}', gap: 2 }),
    minEntropy: 3.2,
    examples: [':rubygems_api_key: 2be79b457c7d976ddfb3a3a2074785fb', 'GEM_HOST_API_KEY="93db48cb7d6efb3d7eee874ff13e31e8"'],
    negatives: [':rubygems_api_key: 0654aa24402822a809e9c8b94918e0', 'GEM_HOST_API_KEY=${{ secrets.RUBYGEMS_KEY }}'],
  }),
  defineDetector({
    id: 'nuget-api-key',
    name: 'NuGet API key',
    description: 'A nuget.org API key (oy2 + 43).',
    confidence: 'high',
    keywords: ['oy2'],
    pattern: /(?<![A-Za-z0-9+/_-])(?<secret>oy2[a-z0-9]{43})(?![A-Za-z0-9+/=_-])/,
    minEntropy: 3.8,
    examples: ['dotnet nuget push pkg.nupkg --api-key oy27a44he5hc1v3tqexps6481tcx8cbsuuuakajb4y92lv --source https://api.nuget.org/v3/index.json'],
    negatives: ['oy25ks6d1b9857cxtvgcc9kvnkvwhyytv', 'oy2KNWVNUXKATLBCZFTJGAOORZWOYIRCCORKCHSCMNFXRW'],
  }),
  defineDetector({
    id: 'crates-io-api-token',
    name: 'crates.io API token',
    description: 'A crates.io API token (cio + 32).',
    confidence: 'high',
    keywords: ['cio'],
    pattern: /(?<![A-Za-z0-9+/_-])(?<secret>cio[A-Za-z0-9]{32})(?![A-Za-z0-9+/=_-])/,
    validate: (value) => hasDigitAndLetter(value.slice(3)) && hasMixedCase(value.slice(3)),
    minEntropy: 3.8,
    examples: ['CARGO_REGISTRY_TOKEN=cio3g0h8LxMLCdjVXEZ6lSS357PQlPVla1Z', '[registry]\ntoken = "ciogqOa2aKCWQ2gpDO5eDPz5zqeorAIbb2Y"'],
    negatives: ['cioTxKGS0SAjxB6nDBZxCn7', 'ciophilosophyandsocialsciencesreading', 'Ciocalteu reagent'],
  }),
  defineDetector({
    id: 'cargo-registry-token',
    name: 'Cargo registry token',
    description: 'A token for crates.io or an alternative Cargo registry, from CARGO_REGISTRY_TOKEN / CARGO_REGISTRIES_<NAME>_TOKEN.',
    confidence: 'medium',
    keywords: ['cargo_registry_token', 'cargo_registries_'],
    pattern: keyValuePattern({ keys: ['cargo_registry_token', 'cargo_registries'], value: '[A-Za-z0-9_.+/=-]{24,200}', tail: '(?![A-Za-z0-9_.+/=-])', gap: 48 }),
    validate: (value) => notPlaceholder(value) && hasDigitAndLetter(value),
    minEntropy: 3.8,
    examples: ['CARGO_REGISTRIES_ACME_TOKEN=Pu3q1Q4fkqd4Vg4Mlxxp3dh6B9BMzq7TjkgPqPlz', 'export CARGO_REGISTRY_TOKEN="bZDlM_WUfDto7cnIo2keWwCDXWX79L1UDPg4"'],
    negatives: ['CARGO_REGISTRIES_ACME_INDEX=sparse+https://cargo.acme.io/index/', 'CARGO_REGISTRY_TOKEN=${{ secrets.CRATES_TOKEN }}'],
  }),
  defineDetector({
    id: 'cargo-credentials-token',
    name: 'Cargo credentials.toml token',
    description: 'A registry token in Cargo’s credentials(.toml) file.',
    confidence: 'high',
    keywords: ['[registry]', '[registries.'],
    pattern: /\[registr(?:y|ies\.[A-Za-z0-9_-]+)\][ \t]*\r?\n(?:[ \t]*[a-z-]+[ \t]*=.*\r?\n)*?[ \t]*(?<key>token)[ \t]*=[ \t]*"(?<secret>[A-Za-z0-9_.+/=-]{20,200})"/,
    validate: notPlaceholder,
    minEntropy: 3.5,
    examples: ['[registries.acme]\ntoken = "JdjqYs8glsMX8u7wKSV5WedFX8Pt5aHPomdLw3wq"', '[registry]\ntoken = "cioqilFqHSd0qFxtitShrSYqIegEAVOjThc"'],
    negatives: ['[registries.acme]\nindex = "sparse+https://cargo.acme.io/index/"', '[registry]\ntoken = "<token>"'],
  }),
  defineDetector({
    id: 'packagist-token',
    name: 'Private Packagist token',
    description: 'A Private Packagist organization/user/conductor token (packagist_ort_/out_/uut_/cut_).',
    confidence: 'high',
    binary: true,
    keywords: ['packagist_'],
    pattern: /(?<![A-Za-z0-9_])(?<secret>packagist_(?:ort|out|uut|cut)_[a-f0-9]{68})(?![A-Za-z0-9_])/,
    minEntropy: 3.5,
    examples: ['composer config --global --auth http-basic.repo.packagist.com token packagist_ort_3909ac849dbb756d6fbc8c787cfe5ffdb088fcd22bb0e25db5feaf0ef2b89374fbc7', 'COMPOSER_AUTH={"http-basic":{"repo.packagist.com":{"username":"token","password":"packagist_uut_915b08252d70220a95335621f79a81057311e2fee15e6a3a7bfaa73059ced3dc1b2d"}}}'],
    negatives: ['packagist_ort_a5cb903d128d125e187f6c847cbec7af76429dc4', 'packagist_abc_dec8c9238a25cea513c0a8aa24197fb8058f56a29f0b281a1627e3c9a6bd59a7e749'],
  }),
  defineDetector({
    id: 'packagist-api-secret',
    name: 'Private Packagist API secret',
    description: 'A Private Packagist API secret (packagist_acs_), which with its API key manages the organization.',
    confidence: 'high',
    binary: true,
    keywords: ['packagist_acs_'],
    pattern: /(?<![A-Za-z0-9_])(?<secret>packagist_acs_[a-f0-9]{64,96})(?![A-Za-z0-9_])/,
    minEntropy: 3.5,
    examples: ['PACKAGIST_API_SECRET=packagist_acs_6f2e6ed716b3114048e596a387a2b337d878ebb801623bec6b342dffda844e9fe0bdc2a61a73b573'],
    negatives: ['packagist_acs_81f20429159b36d0860b27ca18029a4e650ae296'],
  }),
  defineDetector({
    id: 'hex-api-key',
    name: 'Hex.pm API key',
    description: 'A Hex.pm (Elixir/Erlang) API key under HEX_API_KEY or similar.',
    confidence: 'medium',
    keywords: ['hex_api_key', 'hexpm'],
    pattern: keyValuePattern({ keys: ['hex_api_key', 'hexpm_api_key', 'hexpm_key', 'hexpm_token'], value: '[a-f0-9]{32}', gap: 4 }),
    minEntropy: 3.2,
    examples: ['HEX_API_KEY=c8e2b1dbdad9a90c512df66bf7bcf05a'],
    negatives: ['HEX_API_KEY=e9ff627516740c87ed4e', 'HEX_MIRROR=https://repo.hex.pm'],
  }),
  defineDetector({
    id: 'clojars-deploy-token',
    name: 'Clojars deploy token',
    description: 'A Clojars deploy token (CLOJARS_).',
    confidence: 'high',
    binary: true,
    keywords: ['clojars_'],
    pattern: /(?<![A-Za-z0-9_])(?<secret>CLOJARS_[a-z0-9]{60})(?![A-Za-z0-9_])/,
    minEntropy: 3.5,
    examples: [':password "CLOJARS_bthvukpaa4of78nnb31bjmdertmgllju8jju3wt2lgl4fgmitivajb62intm"'],
    negatives: ['CLOJARS_USERNAME=acme', 'CLOJARS_wzowa4x7xft0mukghgwistp9778xe75rqs3p7ys4'],
  }),
  defineDetector({
    id: 'conan-password',
    name: 'Conan remote password',
    description: 'A Conan (C/C++) remote password from CONAN_PASSWORD or CONAN_PASSWORD_<REMOTE>.',
    confidence: 'medium',
    keywords: ['conan_password'],
    pattern: keyValuePattern({ keys: ['conan_password'], value: '[^\\s"\'$`;]{8,128}', tail: '(?=[\\s"\'`;]|$)', gap: 32 }),
    validate: notPlaceholder,
    minEntropy: 3,
    examples: ['CONAN_PASSWORD_ARTIFACTORY=cVJYd2W9dpVFfD!Q', 'ENV CONAN_PASSWORD="ug3XuhfF39MQhaEXXsLD"'],
    negatives: ['CONAN_PASSWORD=${ARTIFACTORY_TOKEN}', 'CONAN_PASSWORD=changeme', 'CONAN_LOGIN_USERNAME=ci-bot'],
  }),
  defineDetector({
    id: 'gradle-plugin-portal-secret',
    name: 'Gradle Plugin Portal publish secret',
    description: 'A Gradle Plugin Portal publishing secret (gradle.publish.secret).',
    confidence: 'high',
    keywords: ['gradle.publish.secret', 'gradle_publish_secret'],
    pattern: keyValuePattern({ keys: ['gradle_publish_secret'], value: '[A-Za-z0-9]{32}', gap: 0 }),
    validate: hasDigitAndLetter,
    minEntropy: 3.8,
    examples: ['gradle.publish.key=0aTmlGF6wqljp68kaCTxkxk9C88Q3sWJ\ngradle.publish.secret=g3EcUf6XDCxZbvq91HPK7gsDhFWJy3u5', 'GRADLE_PUBLISH_SECRET=VGxBd3h63NeEeQb4x9So8JHE4YrwqgK9'],
    negatives: ['gradle.publish.secret=${GRADLE_SECRET}', 'gradle.publish.secret=7kmOrNyICLn36AGRMoH3'],
  }),
  defineDetector({
    id: 'cloudsmith-api-key',
    name: 'Cloudsmith API key',
    description: 'A Cloudsmith package-registry API key (40 hex) under a cloudsmith key.',
    confidence: 'medium',
    keywords: ['cloudsmith'],
    pattern: keyValuePattern({ keys: ['cloudsmith'], value: '[a-f0-9]{40}', gap: 16 }),
    minEntropy: 3.3,
    examples: ['CLOUDSMITH_API_KEY=3c781da01b3117e293209fe46d671686526fcb30'],
    negatives: ['CLOUDSMITH_API_KEY=3246d62e60c235320217f49fb411a72d', 'CLOUDSMITH_REPO=acme/stable'],
  }),
]

export const packageRegistryDetectors: DetectorDefinition[] = [...npm, ...python, ...otherEcosystems]
