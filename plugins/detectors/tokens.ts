/**
 * Tokens of web platforms and SaaS APIs: JSON Web Tokens, credentials in Authorization headers and
 * curl commands, Twitter/X, Facebook/Meta, Okta, Auth0, Contentful, Algolia, Mapbox, Dropbox, Box,
 * Zoom, Salesforce, HubSpot, Segment, Mixpanel, Amplitude, PostHog, Typeform, Trello,
 * monday.com, ClickUp, LinkedIn, Spotify, Twitch, Adobe. (Google OAuth, Firebase, Atlassian, Shopify,
 * Notion, Linear, Figma, Airtable, Asana, Postman and LaunchDarkly live in part 1 of the catalog.)
 *
 * Examples are split after their prefix so this file does not read as leaked tokens (see messaging.ts).
 */
import { Buffer } from 'node:buffer'
import { shannonEntropy } from '../../core/entropy.ts'
import type { Confidence } from '../../core/result.ts'
import { type DetectorDefinition, defineDetector } from '../../core/detector.ts'
import { isDocumentedValue } from './documented-values.ts'
import { keyValuePattern, UUID } from './key-value-pattern.ts'
import { keywordWindowPattern } from './keyword-window.ts'

const keyOf = (match: RegExpExecArray): string => match.groups?.key ?? ''
const hasUpperAndLower = (value: string): boolean => /[A-Z]/.test(value) && /[a-z]/.test(value)
const looksRandomBase62 = (value: string): boolean => /\d/.test(value) && hasUpperAndLower(value)
/** keyValuePattern for short key words (`fb_secret`, `box_...`): the word may not continue a longer one */
const atWordStart = (pattern: RegExp): RegExp => new RegExp(`(?<![A-Za-z0-9])${pattern.source}`)

const decodeJsonObject = (base64url: string): Record<string, unknown> | undefined => {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(base64url, 'base64url').toString('utf8'))
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** `header.payload.signature`, each base64url; the header and payload of a JWS are JSON objects (eyJ = `{"`). */
const JWT_SOURCE =
  '(?<![A-Za-z0-9_.-])(?<secret>(?<header>eyJ[A-Za-z0-9_-]{10,1000})\\.(?<payload>eyJ[A-Za-z0-9_-]{10,8000})\\.(?<signature>[A-Za-z0-9_-]{0,1000}))(?![A-Za-z0-9_.=-])'

/**
 * A JWT is believed when its header decodes to JSON naming an `alg` and its payload decodes to JSON.
 * Unsigned tokens (alg none, empty signature) grant nothing by themselves: low.
 */
const gradeJwt = (_value: string, match: RegExpExecArray): boolean | Confidence => {
  const header = decodeJsonObject(match.groups?.header ?? '')
  if (typeof header?.alg !== 'string') return false
  if (!decodeJsonObject(match.groups?.payload ?? '')) return false
  if (isDocumentedValue(match.groups?.signature ?? '')) return false
  if (header.alg.toLowerCase() === 'none' || !match.groups?.signature) return 'low'
  return true
}

/** monday.com API tokens are HS256 JWTs whose claims name the account (`tid`, `uid`, `actid`). */
const isMondayToken = (value: string, match: RegExpExecArray): boolean => {
  if (gradeJwt(value, match) !== true) return false
  const claims = decodeJsonObject(match.groups?.payload ?? '')
  return typeof claims?.tid === 'number' && typeof claims.uid === 'number' && typeof claims.actid === 'number'
}

const TEMPLATE_OR_REFERENCE = /^(?:\$|<|\{\{|%\(|%[A-Za-z_]+%|\[)|^(?:x+|\*+|\.{3,}|null|none|undefined|token|bearer|secret)$/i

/** what follows `Bearer`: a real token is long, random-looking, and not a variable or placeholder */
const looksLikeBearerToken = (value: string): boolean =>
  !TEMPLATE_OR_REFERENCE.test(value) && shannonEntropy(value) >= 3.5 && /\d/.test(value) && /[A-Za-z]/.test(value)

/** `Basic <base64 of user:password>` with a password that is not obviously a placeholder */
const isBasicCredential = (value: string): boolean => {
  if (isDocumentedValue(value)) return false
  const decoded = Buffer.from(value, 'base64').toString('latin1')
  const colon = decoded.indexOf(':')
  if (colon < 1 || !/^[\x20-\x7e]+$/.test(decoded)) return false
  const password = decoded.slice(colon + 1)
  return password.length >= 3 && !/^(?:password|passwd|pass|pwd|\*+|x+)$/i.test(password) && !TEMPLATE_OR_REFERENCE.test(password)
}

const jwt = (header: string, payload: string, signature: string): string => `${header}.${payload}.${signature}`

export const tokenDetectors: DetectorDefinition[] = [
  // --- JWT and Authorization headers ---
  defineDetector({
    id: 'jwt',
    name: 'JSON Web Token',
    description: 'A signed JSON Web Token whose header names an alg: a bearer credential until it expires. Unsigned tokens are low.',
    confidence: 'medium',
    keywords: ['eyj'],
    pattern: new RegExp(JWT_SOURCE),
    validate: gradeJwt,
    examples: [
      'API_TOKEN=' + jwt('eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9', 'eyJzdWIiOiJzdmMtYmlsbGluZyIsImlhdCI6MTcxNjgwMDAwMCwic2NvcGUiOiJvcmRlcnM6d3JpdGUifQ', 'kfS5YkO9WecsiUFKqb0u6ACMDF9WDa-883gs6-lf7X8'),
      '{"access_token": "' +
        jwt('eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0', 'eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJhdWQiOiJhcGkiLCJzdWIiOiI0MiJ9', 'QAQY1hBe8WM4_WPE1oF3LFJuC4mS6ZGpFG4-G0Dc4DuugOfwO6inamhhWblb-Ds2EpC9myrkb_-x1pANPscKFw') +
        '"}',
    ],
    negatives: [
      // the header names no alg
      jwt('eyJ0eXAiOiJKV1QiLCJraWQiOiJrMSJ9', 'eyJzdWIiOiJzdmMifQ', 'vRIrBVV6ELMiumhrpI7zW3eirSXlVFPwmhHp8Y_Njx0'),
      // the header is not JSON
      jwt('eyJub3QganNvbiBhdCBhbGw', 'eyJzdWIiOiJzdmMifQ', 'vRIrBVV6ELMiumhrpI7zW3eirSXlVFPwmhHp8Y_Njx0'),
      'Authorization: Bearer eyJhbGciOi...',
      // the jwt.io sample token
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzdmMtYmlsbGluZyJ9',
    ],
  }),
  defineDetector({
    id: 'generic-authorization-bearer',
    name: 'Bearer token in an Authorization header',
    description: 'A credential sent as `Authorization: Bearer <token>` (or `token <token>`) in code, configs, curl commands or saved requests.',
    confidence: 'medium',
    keywords: ['bearer', 'authorization'],
    pattern:
      /(?<![A-Za-z0-9_-])[Aa]uthorization["']?[ \t]*[:=,][ \t]*["']?(?:[Bb]earer|[Tt]oken)[ \t]+(?<secret>[A-Za-z0-9._~+/-]{16,4096}={0,2})(?![A-Za-z0-9._~+/=-])/,
    validate: looksLikeBearerToken,
    examples: [
      'curl -H "Authorization: Bearer 8yVOkIsvvoe64_7TvtyCv72lcHhtKmzisn7rIQEbx4m7" https://api.example.com/v1/orders',
      "headers = {'Authorization': 'token Y9O-b1Pz5kOI87Fe6KkMk15f4KCHz7EjwoJa'}",
    ],
    negatives: [
      'curl -H "Authorization: Bearer $API_TOKEN" https://api.example.com',
      'Authorization: Bearer <your-token-here>',
      "headers['Authorization'] = 'Bearer ' + token",
      'Authorization: Bearer xxxxxxxxxxxxxxxxxxxxxxxx',
      'Authorization: Bearer {{ access_token }}',
    ],
  }),
  defineDetector({
    id: 'generic-authorization-basic',
    name: 'Basic credentials in an Authorization header',
    description: 'A user and password sent as `Authorization: Basic <base64 of user:password>`.',
    confidence: 'medium',
    keywords: ['basic '],
    pattern: /(?<![A-Za-z0-9_-])[Aa]uthorization["']?[ \t]*[:=,][ \t]*["']?[Bb]asic[ \t]+(?<secret>[A-Za-z0-9+/]{8,1024}={0,2})(?![A-Za-z0-9+/=])/,
    validate: isBasicCredential,
    examples: ['curl -H "Authorization: Basic Y2ktYm90OlZkODJrUXAxeFpyN0xt" https://nexus.example.com/repository/'],
    negatives: [
      // username:password
      'Authorization: Basic dXNlcm5hbWU6cGFzc3dvcmQ=',
      // decodes to something without a colon
      'Authorization: Basic bm90LWEtY3JlZGVudGlhbC1hdC1hbGw=',
      'Authorization: Basic $(echo -n "$USER:$PASS" | base64)',
      // RFC 6749's example client credentials
      'Authorization: Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW',
    ],
  }),
  defineDetector({
    id: 'curl-basic-auth',
    name: 'curl user credentials',
    description: 'A user and password given to curl with -u/--user, as build steps and health checks often do.',
    confidence: 'medium',
    keywords: ['curl'],
    pattern: /\bcurl\b[^\n]{0,300}?[ \t](?:-u|--user)(?:[ \t]+|=)(?<quote>["']?)(?<user>[^\s:"'$]{1,128}):(?<secret>[^\s"']{3,128})\k<quote>(?=\s|$|;|&|\|)/,
    validate: (value) => !TEMPLATE_OR_REFERENCE.test(value) && !/^(?:password|passwd|pass|pwd)$/i.test(value),
    examples: ['RUN curl -fsSL -u deploy:GEivpYcdIqg4sF https://artifacts.example.com/app.tar.gz -o /tmp/app.tar.gz', 'curl --user "admin:f5z9DRt97jZJ54H7" http://localhost:15672/api/overview'],
    negatives: ['curl -u "$NEXUS_USER:$NEXUS_PASSWORD" https://nexus.example.com', 'curl -u admin:password http://localhost', 'curl -u user: https://example.com'],
  }),

  // --- Social and identity platforms ---
  defineDetector({
    id: 'twitter-bearer-token',
    name: 'Twitter/X app bearer token',
    description: 'A Twitter/X API app-only bearer token (a run of A, then URL-encoded base64) near a Twitter keyword.',
    confidence: 'high',
    keywords: ['twitter', 'x_bearer', 'x-bearer'],
    pattern: keywordWindowPattern({ keywords: ['twitter', 'x_bearer', 'x-bearer'], value: 'A{20,24}[A-Za-z0-9%]{60,140}', distance: 60, tail: '(?![A-Za-z0-9%_-])' }),
    validate: (value) => /\d|%/.test(value) && shannonEntropy(value) >= 4,
    examples: ['TWITTER_BEARER_TOKEN=AAAAAAAAAAAAAAAAAAAAAF8d2AAAAAAAA' + 'gkqJVYSYmgmUUJvS7qo9UlvqMLqW0LU7%2BQ5aDPUBEA3KDMS8EoZKzjkvQpuvyAvdF6E%3DNUzFjG3E7P1R9F'],
    negatives: ['TWITTER_BEARER_TOKEN=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'AAAAAAAAAAAAAAAAAAAAAF8d2AAAAAAAAgkqJVYSYmgmUUJvS7qo9UlvqMLqW0LU7%2BQ5aDPUBEA3KDMS8EoZKzjkvQpuvyAvdF6E'],
  }),
  defineDetector({
    id: 'twitter-api-secret',
    name: 'Twitter/X API key secret',
    description: 'A Twitter/X consumer (API key) secret: 50 characters under a Twitter secret key.',
    confidence: 'high',
    keywords: ['twitter'],
    pattern: keyValuePattern({ keys: ['twitter'], value: '[A-Za-z0-9]{50}' }),
    validate: (value, match) => /secret/i.test(keyOf(match)) && looksRandomBase62(value),
    minEntropy: 4,
    examples: ['TWITTER_API_SECRET=288oXy0abrjo5KQWoCiQNhjzAoo854TVwaenJtivjzE87FNa1J', 'twitter_consumer_secret: "288oXy0abrjo5KQWoCiQNhjzAoo854TVwaenJtivjzE87FNa1J"'],
    negatives: ['TWITTER_API_KEY=288oXy0abrjo5KQWoCiQNhjzAoo854TVwaenJtivjzE87FNa1J', 'TWITTER_API_SECRET=XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX'],
  }),
  defineDetector({
    id: 'twitter-access-token',
    name: 'Twitter/X user access token',
    description: 'A Twitter/X OAuth 1.0a user access token (numeric user id, dash, 20-40 characters) under a Twitter key.',
    confidence: 'high',
    keywords: ['twitter'],
    pattern: keyValuePattern({ keys: ['twitter'], value: '\\d{15,25}-[A-Za-z0-9]{20,40}' }),
    validate: (value) => looksRandomBase62(value.slice(value.indexOf('-') + 1)),
    examples: ['TWITTER_ACCESS_TOKEN=2819726112866899410-poGx6dStYi9Xl19UvrKdyAPcg3rBZL9fYg22kz8Q'],
    negatives: ['TWITTER_ACCESS_TOKEN=2819726112866899410-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'TWITTER_USER_ID=2819726112866899410'],
  }),
  defineDetector({
    id: 'facebook-access-token',
    name: 'Facebook/Meta access token',
    description: 'A Facebook Graph API user, page or system-user access token (EAA…): posts, reads pages, manages ads and WhatsApp.',
    confidence: 'high',
    keywords: ['eaa'],
    pattern: /(?<![A-Za-z0-9+/_-])(?<secret>EAA[A-Za-z0-9]{90,400})(?![A-Za-z0-9+/=_-])/,
    validate: looksRandomBase62,
    minEntropy: 4.5,
    examples: [
      'FACEBOOK_ACCESS_TOKEN=' + 'EAA' + 'kQJVKMXW6Tc16o5q5bjLneDOocIP4SC2DJjg0p6G1OamHi8Dpzzy0UrCsNcAdZ9eqNseZfgjJZ76M8iCwlTOXlCQqAn0M6ItDv3V40Q4i4Ac8MCy7E0c95Uz9G7wrBbE18JX2ESbEvV38BaPCeSBBiKHMmG89o4DGdUQ5z0zDXIydQOb8L5L',
    ],
    negatives: ['FACEBOOK_ACCESS_TOKEN=EAAxxxxxxxx', 'data:image/png;base64,iVBORw0KGgo/EAA' + 'kQJVKMXW6Tc16o5q5bjLneDOocIP4SC2DJjg0p6G1OamHi8Dpzzy0UrCsNcAdZ9eqNseZfgjJZ76M8iCwlTOXlCQqAn0M6ItDv3V40Q4i4Ac8M/x'],
  }),
  defineDetector({
    id: 'facebook-app-secret',
    name: 'Facebook/Meta app secret',
    description: 'A Facebook app secret (32 hex) under a Facebook or FB secret key: mints app tokens and signs requests.',
    confidence: 'high',
    keywords: ['facebook', 'fb_'],
    pattern: atWordStart(keyValuePattern({ keys: ['facebook', 'fb_app_secret', 'fb_secret', 'fb_client_secret'], value: '[0-9a-f]{32}' })),
    validate: (_value, match) => /secret/i.test(keyOf(match)),
    minEntropy: 3,
    examples: ['FACEBOOK_APP_SECRET=14be06e79fa8078406949af4f393b3b8', "'fb_app_secret' => '83a7f87f876157693de40c39419a3978',"],
    negatives: ['FACEBOOK_APP_ID=1234567890123456', 'FACEBOOK_PIXEL_HASH=14be06e79fa8078406949af4f393b3b8'],
  }),
  defineDetector({
    id: 'okta-api-token',
    name: 'Okta API token',
    description: 'An Okta API (SSWS) token (00 + 40) near an Okta keyword: acts with the creating admin\'s permissions.',
    confidence: 'high',
    keywords: ['okta', 'ssws'],
    pattern: keywordWindowPattern({ keywords: ['okta', 'ssws'], value: '00[A-Za-z0-9_-]{40}', distance: 60 }),
    validate: looksRandomBase62,
    minEntropy: 4,
    examples: ['OKTA_API_TOKEN=00Y9O-b1Pz5kOI87Fe6KkMk15f4KCHz7EjwoJa-VwS', 'curl -H "Authorization: SSWS 00Y9O-b1Pz5kOI87Fe6KkMk15f4KCHz7EjwoJa-VwS" https://acme.okta.com/api/v1/users'],
    negatives: ['OKTA_API_TOKEN=00xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'OKTA_CLIENT_ID=0oa1b2c3d4e5f6g7h8i9'],
  }),
  defineDetector({
    id: 'auth0-client-secret',
    name: 'Auth0 client secret',
    description: 'An Auth0 application client secret (64 characters) under an Auth0 secret key.',
    confidence: 'high',
    keywords: ['auth0'],
    pattern: keyValuePattern({ keys: ['auth0'], value: '[A-Za-z0-9_-]{64}' }),
    validate: (value, match) => /secret/i.test(keyOf(match)) && looksRandomBase62(value),
    minEntropy: 4.5,
    examples: ['AUTH0_CLIENT_SECRET=8yVOkIsvvoe64_7TvtyCv72lcHhtKmzisn7rIQEbx4m7JByehyAOXJ57DQuGp1Hz'],
    negatives: ['AUTH0_CLIENT_ID=8yVOkIsvvoe64_7TvtyCv72lcHhtKmzisn7rIQEbx4m7JByehyAOXJ57DQuGp1Hz', 'AUTH0_SECRET=use-openssl-rand-hex-32-to-generate-a-32-bytes-value-right-here'],
  }),
  defineDetector({
    id: 'linkedin-client-secret',
    name: 'LinkedIn client secret',
    description: 'A LinkedIn application client secret (16 characters) under a LinkedIn secret key.',
    confidence: 'medium',
    keywords: ['linkedin', 'linked_in', 'linked-in'],
    pattern: keyValuePattern({ keys: ['linked_in'], value: '[A-Za-z0-9]{16}' }),
    validate: (value, match) => /secret/i.test(keyOf(match)) && looksRandomBase62(value),
    examples: ['LINKEDIN_CLIENT_SECRET=rctbwkCuU7hkQVRa'],
    negatives: ['LINKEDIN_CLIENT_ID=86rctbwkcu7hkq', 'LINKEDIN_CLIENT_SECRET=SecretForLinkIn'],
  }),
  defineDetector({
    id: 'twitch-client-secret',
    name: 'Twitch client secret or token',
    description: 'A Twitch application client secret or OAuth token (30 lower-case characters) under a Twitch secret or token key.',
    confidence: 'medium',
    keywords: ['twitch'],
    pattern: keyValuePattern({ keys: ['twitch'], value: '(?:oauth:)?[a-z0-9]{30}' }),
    validate: (value, match) => /secret|token/i.test(keyOf(match)) && /\d/.test(value),
    minEntropy: 3.5,
    examples: ['TWITCH_CLIENT_SECRET=f9y1qo5uwbrembka4es0hkysus5rvn', 'twitch_oauth_token: "oauth:f9y1qo5uwbrembka4es0hkysus5rvn"'],
    negatives: ['TWITCH_CLIENT_ID=f9y1qo5uwbrembka4es0hkysus5rvn', 'TWITCH_CHANNEL_NAME=streamerofthemonthawardwinner'],
  }),
  defineDetector({
    id: 'spotify-client-secret',
    name: 'Spotify client secret',
    description: 'A Spotify application client secret (32 hex) under a Spotify secret key.',
    confidence: 'medium',
    keywords: ['spotify'],
    pattern: keyValuePattern({ keys: ['spotify'], value: '[0-9a-f]{32}' }),
    validate: (_value, match) => /secret/i.test(keyOf(match)),
    minEntropy: 3,
    examples: ['SPOTIFY_CLIENT_SECRET=9a0b6f89c059ab627168b956abcd14f4'],
    negatives: ['SPOTIFY_CLIENT_ID=9a0b6f89c059ab627168b956abcd14f4'],
  }),

  // --- Content, search, maps ---
  defineDetector({
    id: 'contentful-management-token',
    name: 'Contentful personal access token',
    description: 'A Contentful content management personal access token (CFPAT-): edits and publishes every space the user can.',
    confidence: 'high',
    keywords: ['cfpat-'],
    pattern: /(?<![\w-])(?<secret>CFPAT-[A-Za-z0-9_-]{43})(?![\w-])/,
    minEntropy: 4,
    examples: ['CONTENTFUL_MANAGEMENT_TOKEN=' + 'CFPAT-' + 'EPSGD7F7aHolLmKhK0b4Ayu74HyGI8Dn78DnyqYimvh'],
    negatives: ['CONTENTFUL_MANAGEMENT_TOKEN=CFPAT-xxxxxxxx'],
  }),
  defineDetector({
    id: 'contentful-delivery-token',
    name: 'Contentful delivery or preview token',
    description: 'A Contentful Content Delivery or Preview API token (43 characters) under a Contentful key: reads published or draft content.',
    confidence: 'medium',
    keywords: ['contentful'],
    pattern: keyValuePattern({ keys: ['contentful'], value: '[A-Za-z0-9_-]{43}' }),
    validate: (value, match) => !/space|environment|env|host|id$/i.test(keyOf(match)) && looksRandomBase62(value),
    minEntropy: 4,
    examples: ['CONTENTFUL_DELIVERY_TOKEN=rIntRsq-RNdR-uKppFR_qVfugTOebcse9PPlXGW39Lc', 'contentfulPreviewToken: EPSGD7F7aHolLmKhK0b4Ayu74HyGI8Dn78DnyqYimvh'],
    negatives: ['CONTENTFUL_SPACE_ID=rIntRsq-RNdR-uKppFR_qVfugTOebcse9PPlXGW39Lc', 'CONTENTFUL_ACCESS_TOKEN=your-contentful-delivery-access-token-abc'],
  }),
  defineDetector({
    id: 'algolia-admin-key',
    name: 'Algolia admin or write API key',
    description: 'An Algolia API key (32 hex) under an Algolia key naming admin/write/secret use (high) or a plain API key name (medium); search-only keys are public.',
    confidence: 'high',
    keywords: ['algolia'],
    pattern: keyValuePattern({ keys: ['algolia'], value: '[0-9a-f]{32}' }),
    validate: (_value, match) => {
      const key = keyOf(match)
      if (/search|public|app_?id|application_?id|index/i.test(key)) return false
      return /admin|write|secret|private/i.test(key) ? true : 'medium'
    },
    minEntropy: 3,
    examples: ['ALGOLIA_ADMIN_KEY=f391baa8eebb029a0b26ad8b285cb415', '"algoliaWriteApiKey": "a0739448f118c8d42ecfa4cc562418ca"'],
    negatives: ['ALGOLIA_SEARCH_ONLY_API_KEY=f391baa8eebb029a0b26ad8b285cb415', 'NEXT_PUBLIC_ALGOLIA_SEARCH_KEY=a0739448f118c8d42ecfa4cc562418ca', 'ALGOLIA_APP_ID=ABCDEF1234'],
  }),
  defineDetector({
    id: 'mapbox-secret-token',
    name: 'Mapbox secret access token',
    description: 'A Mapbox secret token (sk.eyJ…): manages styles, tilesets and tokens of the account. Public pk. tokens are not reported.',
    confidence: 'high',
    keywords: ['sk.eyj'],
    pattern: /(?<![\w.-])(?<secret>sk\.(?<claims>eyJ[A-Za-z0-9_-]{20,400})\.[A-Za-z0-9_-]{20,64})(?![\w-])/,
    validate: (_value, match) => typeof decodeJsonObject(match.groups?.claims ?? '')?.u === 'string',
    examples: ['MAPBOX_SECRET_TOKEN=' + 'sk.' + 'eyJ1IjoiYWNtZS1tYXBzIiwiYSI6ImNsdzN4OWsybDBhYmMxMmRlM2ZnNGhpamsifQ.6sSnl-zyMe6zNk5r7nX0ya'],
    negatives: ['mapboxgl.accessToken = "pk.eyJ1IjoiYWNtZS1tYXBzIiwiYSI6ImNsdzN4OWsybDBhYmMxMmRlM2ZnNGhpamsifQ.6sSnl-zyMe6zNk5r7nX0ya"', 'sk.eyJub3QiOiJtYXBib3gifQ.6sSnl-zyMe6zNk5r7nX0ya'],
  }),

  // --- Storage, meetings, CRM ---
  defineDetector({
    id: 'dropbox-short-lived-token',
    name: 'Dropbox access token',
    description: 'A Dropbox OAuth access token (sl. or sl.u.): reads and writes the files the app may.',
    confidence: 'high',
    keywords: ['sl.'],
    pattern: /(?<![\w.-])(?<secret>sl\.(?:u\.)?[A-Za-z0-9_-]{130,1400})(?![\w-])/,
    validate: looksRandomBase62,
    minEntropy: 4.5,
    examples: ['DROPBOX_ACCESS_TOKEN=' + 'sl.' + 'FrEme3mq85SzSVzY5Im1pFV9biZQOJDt1mk84W8GKROk6eOyB__i3OvR4c0a0RKyfcI9mG4VAuzxl6fbwvHLyt5RlePL0RdN7CywTO1qV6jonL3a2peR9tFUqTI4T_m66t2mr0AHDRFD'],
    negatives: ['ssl.certificate_file=/etc/ssl/certs/server.pem', 'DROPBOX_ACCESS_TOKEN=sl.xxxxx'],
  }),
  defineDetector({
    id: 'dropbox-long-lived-token',
    name: 'Dropbox long-lived access token',
    description: 'A legacy long-lived Dropbox access token (11 + AAAAAAAAAA + 43) under a Dropbox key.',
    confidence: 'high',
    keywords: ['dropbox'],
    pattern: keyValuePattern({ keys: ['dropbox'], value: '[A-Za-z0-9]{11}AAAAAAAAAA[A-Za-z0-9_-]{43}' }),
    minEntropy: 3.5,
    examples: ['DROPBOX_TOKEN=yl461i886puAAAAAAAAAAJFOptxfCaYoqpcXaQXissKilaLOqVD0Eu_f-EZmTHei'],
    negatives: ['DROPBOX_APP_KEY=yl461i886pu1a2b', 'DROPBOX_TOKEN=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
  }),
  defineDetector({
    id: 'box-client-secret',
    name: 'Box client secret or developer token',
    description: 'A Box application client secret or developer token (32 characters) under a Box key.',
    confidence: 'medium',
    keywords: ['box_client_secret', 'box_secret', 'box_developer_token', 'box_access_token', 'boxclientsecret', 'box-client-secret'],
    pattern: atWordStart(keyValuePattern({ keys: ['box_client_secret', 'box_secret', 'box_developer_token', 'box_access_token'], value: '[A-Za-z0-9]{32}' })),
    validate: looksRandomBase62,
    minEntropy: 4,
    examples: ['BOX_CLIENT_SECRET=dwTGis8bJ2ArLNpA15oZVReJYLgXzJGd', 'box_developer_token: f5z9DRt97jZJ54H7oJTaSWVXM8bGrNQC'],
    negatives: ['DROPBOX_CLIENT_SECRET=dwTGis8bJ2ArLNpA15oZVReJYLgXzJGd', 'BOX_CLIENT_SECRET=YOUR_BOX_CLIENT_SECRET_GOES_HERE'],
  }),
  defineDetector({
    id: 'zoom-client-secret',
    name: 'Zoom client secret',
    description: 'A Zoom app client secret or secret token (32 characters) under a Zoom secret key: server-to-server OAuth into the account.',
    confidence: 'medium',
    keywords: ['zoom'],
    pattern: keyValuePattern({ keys: ['zoom'], value: '[A-Za-z0-9]{32}' }),
    validate: (value, match) => /secret/i.test(keyOf(match)) && looksRandomBase62(value),
    minEntropy: 4,
    examples: ['ZOOM_CLIENT_SECRET=gHmZ7Vq7y8dbcSkUa1oy8uje2jQvrOLy'],
    negatives: ['ZOOM_ACCOUNT_ID=gHmZ7Vq7y8dbcSkUa1oy8uje2jQvrOLy', 'ZOOM_CLIENT_SECRET=AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEf'],
  }),
  defineDetector({
    id: 'salesforce-access-token',
    name: 'Salesforce access token (session id)',
    description: 'A Salesforce OAuth access token or session id (org id 00D…, !, token): full API access as the user until it expires.',
    confidence: 'high',
    keywords: ['00d'],
    pattern: /(?<![A-Za-z0-9])(?<secret>00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{80,120})(?![A-Za-z0-9._])/,
    minEntropy: 4,
    examples: ['SF_ACCESS_TOKEN=00DYXZ4SFCK0A8D!' + 'vvQFzHUFJnvoiBJufRDmG046O0irZZlUS30Lz8aWcEmGNzlMRoHxu33hvsIf1L9iomGZ5DWlZN36GwUNiNGyZfaGq8pDuo3H'],
    negatives: ['00D000000000000!AQ0000000000000000000000000000000000000000000000000000000000000000000000000000000000', 'orgId=00DYXZ4SFCK0A8D'],
  }),
  defineDetector({
    id: 'salesforce-refresh-token',
    name: 'Salesforce refresh token',
    description: 'A Salesforce OAuth refresh token (5Aep861…): mints new access tokens for the connected app.',
    confidence: 'high',
    keywords: ['5aep861'],
    pattern: /(?<![A-Za-z0-9])(?<secret>5Aep861[A-Za-z0-9._]{70,100})(?![A-Za-z0-9._])/,
    minEntropy: 4,
    examples: ['SF_REFRESH_TOKEN=' + '5Aep861' + 'iAhCLZLCFRZ1d3WnoFVcSrOXmibE3GNcrTWEv8KGhDxODHDGiRHLF0D9UIP4JsTzYj8SaRJvxltmDqPIQHP'],
    negatives: ['5Aep861' + 'x'.repeat(80)],
  }),
  defineDetector({
    id: 'hubspot-private-app-token',
    name: 'HubSpot private app access token',
    description: 'A HubSpot private app or personal access token (pat-na1-, pat-eu1- + UUID): CRM access with the app\'s scopes.',
    confidence: 'high',
    keywords: ['pat-na', 'pat-eu', 'pat-ap'],
    pattern: new RegExp(`(?<![\\w-])(?<secret>pat-(?:na|eu|ap)\\d{1,2}-${UUID})(?![\\w-])`),
    examples: ['HUBSPOT_ACCESS_TOKEN=' + 'pat-na1-' + '65799d0a-a18a-4efd-a011-c261e3e8871d', 'hubspot.Client.create(access_token="' + 'pat-eu1-' + '9b7fbc05-5b7d-4072-a72f-605ad221522a")'],
    negatives: ['HUBSPOT_ACCESS_TOKEN=pat-na1-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx'],
  }),
  defineDetector({
    id: 'hubspot-api-key-legacy',
    name: 'HubSpot API key (legacy)',
    description: 'A legacy HubSpot hapikey (a UUID) under a HubSpot key or in a hapikey= query.',
    confidence: 'medium',
    keywords: ['hubspot', 'hapikey'],
    pattern: keyValuePattern({ keys: ['hubspot', 'hapikey'], value: UUID }),
    validate: (_value, match) => !/portal|app_?id|form|account|id$/i.test(keyOf(match)),
    examples: ['HUBSPOT_API_KEY=0a3f064b-174b-4160-a32c-9ae836c205a9', 'https://api.hubapi.com/contacts/v1/lists/all/contacts/all?hapikey=adcc02c1-3538-400c-a3b9-bdeaf536c298'],
    negatives: ['HUBSPOT_FORM_ID=0a3f064b-174b-4160-a32c-9ae836c205a9', 'HUBSPOT_PORTAL_ID=1234567'],
  }),

  // --- Analytics ---
  defineDetector({
    id: 'segment-public-api-token',
    name: 'Segment Public API token',
    description: 'A Segment Public API token (sgp_ + 64): manages sources, destinations and tracking plans of the workspace.',
    confidence: 'high',
    keywords: ['sgp_'],
    pattern: /(?<![\w-])(?<secret>sgp_[A-Za-z0-9]{64})(?![\w-])/,
    validate: looksRandomBase62,
    minEntropy: 4.5,
    examples: ['SEGMENT_API_TOKEN=' + 'sgp_' + 'dzY2xZHSZ04KAW6oAihjOIG61CE0a5M06a6aFoJfvwhqbjbYF3g2u8KHIoBc67nB'],
    negatives: ['sgp_' + 'a'.repeat(64), 'sgp_0123456789abcdef0123456789abcdef01234567'],
  }),
  defineDetector({
    id: 'mixpanel-api-secret',
    name: 'Mixpanel API or service account secret',
    description: 'A Mixpanel project API secret or service account secret (32 characters) under a Mixpanel secret key. Project tokens are public.',
    confidence: 'high',
    keywords: ['mixpanel'],
    pattern: keyValuePattern({ keys: ['mixpanel'], value: '[A-Za-z0-9]{32}' }),
    validate: (value, match) => /secret/i.test(keyOf(match)) && /\d/.test(value) && /[a-z]/.test(value),
    minEntropy: 3.5,
    examples: ['MIXPANEL_API_SECRET=f381d634424ff4b52583e4703d5696c3', 'MIXPANEL_SERVICE_ACCOUNT_SECRET=Fu9ppy52YHzOWWwKC1Ldh0M8JsLBcE1h'],
    negatives: ['MIXPANEL_PROJECT_TOKEN=f381d634424ff4b52583e4703d5696c3', 'MIXPANEL_API_SECRET=YOURMIXPANELAPISECRETGOESHERENOW'],
  }),
  defineDetector({
    id: 'amplitude-secret-key',
    name: 'Amplitude secret key',
    description: 'An Amplitude project secret key (32 hex) under an Amplitude secret key: exports event data.',
    confidence: 'high',
    keywords: ['amplitude'],
    pattern: keyValuePattern({ keys: ['amplitude'], value: '[0-9a-f]{32}' }),
    validate: (_value, match) => /secret/i.test(keyOf(match)),
    minEntropy: 3,
    examples: ['AMPLITUDE_SECRET_KEY=7a1ab514b8bcd4bd3ab30626c104d94c'],
    negatives: ['AMPLITUDE_API_KEY=7a1ab514b8bcd4bd3ab30626c104d94c'],
  }),
  defineDetector({
    id: 'posthog-personal-api-key',
    name: 'PostHog personal API key',
    description: 'A PostHog personal API key (phx_): reads and changes the projects of the user. Project keys (phc_) are public.',
    confidence: 'high',
    keywords: ['phx_'],
    pattern: /(?<![\w-])(?<secret>phx_[A-Za-z0-9]{43})(?![\w-])/,
    validate: looksRandomBase62,
    minEntropy: 4,
    examples: ['POSTHOG_PERSONAL_API_KEY=' + 'phx_' + 'iPJ6TToSaBKiIaqzC1iw22Gkg2XxyiMZ0e6mChZ2afS'],
    negatives: ['POSTHOG_KEY=phc_iPJ6TToSaBKiIaqzC1iw22Gkg2XxyiMZ0e6mChZ2afS', 'phx_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'],
  }),
  // --- Forms, project tools ---
  defineDetector({
    id: 'typeform-personal-token',
    name: 'Typeform personal access token',
    description: 'A Typeform personal access token (tfp_): reads responses and edits forms of the account.',
    confidence: 'high',
    keywords: ['tfp_'],
    pattern: /(?<![\w-])(?<secret>tfp_[A-Za-z0-9_.=-]{40,64})(?![\w.=-])/,
    validate: looksRandomBase62,
    minEntropy: 4,
    examples: ['TYPEFORM_TOKEN=' + 'tfp_' + 'yf4t5aULCq85appeQLCm6zDcG9l8haZDv72HOeEvyw7T8_SRhliMYcBesWI'],
    negatives: ['TYPEFORM_TOKEN=tfp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'],
  }),
  defineDetector({
    id: 'trello-api-token',
    name: 'Trello API token',
    description: 'A Trello user API token (ATTA… or a legacy 64-hex token under a Trello key): acts as the user on boards.',
    confidence: 'high',
    keywords: ['atta'],
    pattern: /(?<![\w-])(?<secret>ATTA[a-f0-9]{64}[A-F0-9]{8})(?![\w-])/,
    minEntropy: 3.5,
    examples: ['TRELLO_TOKEN=' + 'ATTA' + '9f11dcf3080fa2050b18ea2bc818e2c4aeaa60a7cb7e41a916728dc110d8d8e229A8149B'],
    negatives: ['ATTACHMENT_STORAGE_PATH=/var/uploads', 'ATTA' + '0'.repeat(72)],
  }),
  defineDetector({
    id: 'trello-api-token-legacy',
    name: 'Trello API token (legacy)',
    description: 'A legacy Trello token (64 hex) under a Trello token or secret key.',
    confidence: 'medium',
    keywords: ['trello'],
    pattern: keyValuePattern({ keys: ['trello'], value: '[0-9a-f]{64}' }),
    validate: (_value, match) => /token|secret/i.test(keyOf(match)),
    minEntropy: 3.5,
    examples: ['TRELLO_TOKEN=ba5c99373837126a1e049eb724c5ea0f6a4af3f5375389e7a6e6693d4bab1427'],
    negatives: ['TRELLO_BOARD_HASH=ba5c99373837126a1e049eb724c5ea0f6a4af3f5375389e7a6e6693d4bab1427'],
  }),
  defineDetector({
    id: 'monday-api-token',
    name: 'monday.com API token',
    description: 'A monday.com API token: an HS256 JWT whose claims name the account, user and API token (tid, uid, actid).',
    confidence: 'high',
    keywords: ['eyj'],
    pattern: new RegExp(JWT_SOURCE),
    validate: isMondayToken,
    examples: [
      'MONDAY_API_TOKEN=' +
        jwt(
          'eyJhbGciOiJIUzI1NiJ9',
          'eyJ0aWQiOjMzODc0OTUxMiwiYWFpIjoxMSwidWlkIjo1ODEyMzkwNywiaWFkIjoiMjAyNC0wNS0yN1QxMDowMDowMC4wMDBaIiwicGVyIjoibWU6d3JpdGUiLCJhY3RpZCI6MjI5MzE4NzQsInJnbiI6InVzZTEifQ',
          'CyVhHCIjsw5SJzilYKVnOxqclV4XQEgldMAoEY-sXTo',
        ),
    ],
    negatives: [jwt('eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9', 'eyJzdWIiOiJzdmMtYmlsbGluZyIsImlhdCI6MTcxNjgwMDAwMCwic2NvcGUiOiJvcmRlcnM6d3JpdGUifQ', 'kfS5YkO9WecsiUFKqb0u6ACMDF9WDa-883gs6-lf7X8')],
  }),
  defineDetector({
    id: 'clickup-personal-token',
    name: 'ClickUp personal API token',
    description: 'A ClickUp personal API token (pk_ + user id + _ + 32): acts as the user in every workspace.',
    confidence: 'high',
    keywords: ['pk_'],
    pattern: /(?<![\w-])(?<secret>pk_\d{6,10}_[A-Z0-9]{32})(?![\w-])/,
    minEntropy: 3.5,
    examples: ['CLICKUP_API_TOKEN=' + 'pk_' + '53919424_Q2IAKOQHU2MTF6KSY5L235O30AW47K2M'],
    negatives: ['STRIPE_PUBLISHABLE_KEY=pk_live_51H8abcdEFGH', 'pk_53919424_' + 'X'.repeat(32)],
  }),
  defineDetector({
    id: 'adobe-client-secret',
    name: 'Adobe client secret',
    description: 'An Adobe Developer Console OAuth client secret (p8e-): server-to-server access to the org\'s Adobe APIs.',
    confidence: 'high',
    keywords: ['p8e-'],
    pattern: /(?<![\w-])(?<secret>p8e-[A-Za-z0-9_-]{32})(?![\w-])/,
    validate: looksRandomBase62,
    minEntropy: 4,
    examples: ['ADOBE_CLIENT_SECRET=' + 'p8e-' + 'SHyYd4flqI6PVaI0UNiM5shyynjKVfg1'],
    negatives: ['ADOBE_CLIENT_SECRET=p8e-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'],
  }),
]
