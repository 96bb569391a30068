/**
 * Credentials printed in specifications and widely copied documentation. Whoever finds one of these
 * in an image found a copy of the docs, not a leak, so the detectors that would match them drop
 * them. (Vendor-specific samples, like AWS's EXAMPLE keys, are the fixtures filter's business.)
 */
const DOCUMENTED_VALUES: ReadonlySet<string> = new Set([
  // RFC 6749 (OAuth 2.0): access and refresh tokens, authorization code, client credentials
  '2YotnFZFEjr1zCsicMWpAA',
  'tGzv3JOkF0XG5Qx2TlKWIA',
  'SplxlOBeZQQYbYS6WxSbIA',
  's6BhdRkqt3',
  'gX1fBat3bV',
  'czZCaGRSa3F0MzpnWDFmQmF0M2JW',
  // RFC 6750 (bearer tokens)
  'mF_9.B5f-4.1JqM',
  // RFC 5849 (OAuth 1.0): consumer key and secret, temporary and token credentials
  'dpf43f3p2l4k3l03',
  'kd94hf93k423kf44',
  'hh5s93j4hdidpola',
  'hdhd0244k9j7ao03',
  'nnch734d00sl2jdk',
  'pfkkdhi9sl3r4s00',
  // signatures of the jwt.io and PyJWT sample tokens
  'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
  '4twFt5NiznN84AWoo1d7KO1T_yoc0Z6XOpOVswacPZg',
])

export const isDocumentedValue = (value: string): boolean => DOCUMENTED_VALUES.has(value)
