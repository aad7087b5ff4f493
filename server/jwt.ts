import { createHmac, timingSafeEqual } from 'node:crypto'

export interface AccessClaims {
	sub: string
	sid: string
	jti: string
	iat: number
	exp: number
	exp_ms: number
	/** RFC 9449 §6.1: the thumbprint of the key a DPoP-bound token is bound to. */
	cnf?: { jkt: string }
}

const HEADER = encodeJson({ alg: 'HS256', typ: 'JWT' })

export function signJwt(claims: AccessClaims, secret: Buffer): string {
	const unsigned = `${HEADER}.${encodeJson(claims)}`
	return `${unsigned}.${hmac(unsigned, secret)}`
}

/** Returns the claims when the signature is ours; expiry and revocation are the caller's business. */
export function verifyJwt(token: string, secret: Buffer): AccessClaims | undefined {
	const [header, payload, signature, ...extra] = token.split('.')
	// Comparing the whole header to the one we issue rules out alg=none and algorithm confusion.
	if (header !== HEADER || payload === undefined || signature === undefined || extra.length > 0) return undefined
	const expected = Buffer.from(hmac(`${header}.${payload}`, secret))
	const given = Buffer.from(signature)
	if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
	// The payload is one we signed, so its shape is known.
	return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as AccessClaims
}

function encodeJson(value: object): string {
	return Buffer.from(JSON.stringify(value)).toString('base64url')
}

function hmac(data: string, secret: Buffer): string {
	return createHmac('sha256', secret).update(data).digest('base64url')
}
