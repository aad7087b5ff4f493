import { createHash, webcrypto } from 'node:crypto'

/** What one request must prove: its method and URL, and for an API call the token and the key it is bound to. */
export interface DPoPExpectation {
	method: string
	/** The request's URL; the proof's `htu` must equal it without query and fragment. */
	url: string
	/** An API call's access token: the proof's `ath` must be its SHA-256. */
	accessToken?: string
	/** The token's `cnf.jkt`: the proof must be signed by the key with this thumbprint. */
	jkt?: string
	/** The nonce this server requires now, if any. */
	nonce?: string
}

/** A proof's check: the key's thumbprint and the claims when it passes, else the OAuth error to answer with and why. */
export type DPoPVerdict =
	| { ok: true; jkt: string; claims: Record<string, unknown> }
	/** `use_dpop_nonce`: the proof is good but lacks the nonce (answer it with a DPoP-Nonce header). */
	| { ok: false; error: 'invalid_dpop_proof' | 'use_dpop_nonce'; reason: string }

/** Options of {@link dpopVerifier}. */
export interface DPoPVerifierOptions {
	/** How far `iat` may be from now, either way; default 60 s. */
	windowSeconds?: number
	/** This server's clock (epoch ms); default Date.now. */
	now?: () => number
}

/** Checks DPoP proofs as a resource server must (RFC 9449 §4.3, §7.1); it remembers `jti`s to refuse a replay. */
export interface DPoPVerifier {
	/** Checks one request's `DPoP` header (undefined: none was sent) against what that request must prove. */
	verify(proof: string | undefined, expected: DPoPExpectation): Promise<DPoPVerdict>
}

const b64url = (data: Buffer | Uint8Array) => Buffer.from(data).toString('base64url')
const sha256 = (text: string) => b64url(createHash('sha256').update(text).digest())

/** RFC 7638: the required members of an EC key, in lexical order, without whitespace. */
export function jwkThumbprint(jwk: { crv?: unknown; kty?: unknown; x?: unknown; y?: unknown }): string {
	return sha256(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))
}

function parsePart(part: string | undefined): Record<string, unknown> | undefined {
	try {
		const value: unknown = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8'))
		return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
	} catch {
		return undefined
	}
}

/**
 * Checks DPoP proofs as a resource server or token endpoint must (RFC 9449 §4.3): the signature
 * by the key in its header, `typ`, `alg`, `htm`, `htu`, `iat` within the window, `jti` not seen
 * before, `ath` against the access token, the key's thumbprint against the token's `cnf.jkt`,
 * and the server's nonce. For app teams' test APIs as for the dev server.
 */
export function dpopVerifier(options: DPoPVerifierOptions = {}): DPoPVerifier {
	const windowSeconds = options.windowSeconds ?? 60
	const now = options.now ?? Date.now
	/** jti → when it may be forgotten: after that, its iat is outside the window anyway. */
	const seen = new Map<string, number>()
	const refuse = (reason: string): DPoPVerdict => ({ ok: false, error: 'invalid_dpop_proof', reason })
	return {
		async verify(proof, expected) {
			if (proof === undefined || proof === '') return refuse('no DPoP header')
			const parts = proof.split('.')
			if (parts.length !== 3) return refuse('the proof is not a compact JWS')
			const header = parsePart(parts[0])
			const claims = parsePart(parts[1])
			if (header === undefined || claims === undefined) return refuse('the proof header or payload is not JSON')
			if (header.typ !== 'dpop+jwt') return refuse(`typ is ${String(header.typ)}, not dpop+jwt`)
			if (header.alg !== 'ES256') return refuse(`alg ${String(header.alg)} is not supported (ES256)`)
			const jwk = header.jwk as Record<string, unknown> | undefined
			if (typeof jwk !== 'object' || jwk === null || 'd' in jwk || jwk.kty !== 'EC' || jwk.crv !== 'P-256') return refuse('jwk is not a public P-256 key')
			let valid: boolean
			try {
				const key = await webcrypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: jwk.x as string, y: jwk.y as string }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])
				valid = await webcrypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, Buffer.from(parts[2]!, 'base64url'), Buffer.from(`${parts[0]}.${parts[1]}`))
			} catch {
				return refuse('jwk is not a usable key')
			}
			if (!valid) return refuse('the signature does not verify')
			if (claims.htm !== expected.method.toUpperCase()) return refuse(`htm ${String(claims.htm)} is not ${expected.method.toUpperCase()}`)
			const url = new URL(expected.url)
			if (claims.htu !== `${url.origin}${url.pathname}`) return refuse(`htu ${String(claims.htu)} is not ${url.origin}${url.pathname}`)
			const nowSeconds = now() / 1000
			if (typeof claims.iat !== 'number' || Math.abs(claims.iat - nowSeconds) > windowSeconds) return refuse(`iat ${String(claims.iat)} is not within ${windowSeconds} s of ${Math.floor(nowSeconds)}`)
			if (typeof claims.jti !== 'string' || claims.jti.length < 8) return refuse('jti is missing')
			for (const [jti, until] of seen) if (until < nowSeconds) seen.delete(jti)
			if (seen.has(claims.jti)) return refuse('jti was used before (a replayed proof)')
			if (expected.accessToken !== undefined && claims.ath !== sha256(expected.accessToken)) return refuse('ath is not the hash of the access token sent')
			const jkt = jwkThumbprint(jwk)
			if (expected.jkt !== undefined && jkt !== expected.jkt) return refuse('the proof is signed by another key than the token is bound to')
			if (expected.nonce !== undefined && claims.nonce !== expected.nonce) return { ok: false, error: 'use_dpop_nonce', reason: "the proof lacks the server's current nonce" }
			seen.set(claims.jti, nowSeconds + 2 * windowSeconds)
			return { ok: true, jkt, claims }
		},
	}
}
