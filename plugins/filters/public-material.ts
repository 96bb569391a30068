/**
 * Public certificates and public keys are not secrets: a CA bundle, a TLS certificate, an
 * `authorized_keys` line or an age recipient is meant to be shared. No detector should report them
 * (the private-key detectors require PRIVATE in the header); this is the safety net for plugins
 * and rule files that are less careful.
 */
import { Buffer } from 'node:buffer'

const PUBLIC_PEM_LABEL =
  /^(?:CERTIFICATE|TRUSTED CERTIFICATE|X509 CERTIFICATE|X509 CRL|CERTIFICATE REQUEST|NEW CERTIFICATE REQUEST|PUBLIC KEY|RSA PUBLIC KEY|DSA PUBLIC KEY|EC PUBLIC KEY|SSH2 PUBLIC KEY|PGP PUBLIC KEY BLOCK|PGP SIGNATURE|PKCS7|CMS|DH PARAMETERS|EC PARAMETERS|DSA PARAMETERS|X9\.42 DH PARAMETERS)$/

const PEM_HEADER = /^-----BEGIN ([A-Z0-9 .]+)-----/
/** the first characters of "-----BEGIN " in base64, as kubeconfig `*-data` fields hold certificates */
const BASE64_PEM = /^LS0tLS1CRUdJTi[A-Za-z0-9+/]{8,}/
const SSH_PUBLIC_KEY = /^(?:ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(?:256|384|521)|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)[ \t]+AAAA[A-Za-z0-9+/]+={0,2}/
/** bech32 age recipients (the secret half is AGE-SECRET-KEY-1...) */
const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/

const pemLabel = (text: string): string | undefined => PEM_HEADER.exec(text.replace(/^\s+/, ''))?.[1]

/** True for a certificate, public key or PEM-armored public structure, given as text or as base64 of its PEM. */
export const isPublicMaterial = (raw: string): boolean => {
  const value = raw.trim()
  let label = pemLabel(value)
  if (label === undefined && BASE64_PEM.test(value)) label = pemLabel(Buffer.from(value.slice(0, 200), 'base64').toString('latin1'))
  if (label !== undefined) return PUBLIC_PEM_LABEL.test(label)
  return SSH_PUBLIC_KEY.test(value) || AGE_RECIPIENT.test(value)
}
