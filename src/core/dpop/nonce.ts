import type { Answer } from './server-clock.js'

/** An answer as the nonce rule reads it: a fetch Response, an axios response, or Angular's. */
export interface NonceAnswer extends Answer {
	readonly status: number
}

/** A token endpoint's OAuth error, read from the answer's body only when a rule needs it. */
export type OAuthErrorOf = () => Promise<string | undefined>

/**
 * Whether the server refused the proof only for want of its nonce, and gave one (RFC 9449 §8: a
 * token endpoint's 400 `use_dpop_nonce`; §9: a resource server's 401 with
 * `WWW-Authenticate: DPoP error="use_dpop_nonce"`). Such a request is sent once more, with the
 * nonce; it says nothing about the token, so it causes no refresh.
 */
export async function asksForNonce(answer: NonceAnswer, oauthError: OAuthErrorOf): Promise<boolean> {
	if (resourceAsksForNonce(answer)) return true
	return answer.status === 400 && !!answer.headers.get('dpop-nonce') && (await oauthError()) === 'use_dpop_nonce'
}

/**
 * Whether the server refused the proof itself (RFC 9449 §7.1: `invalid_dpop_proof`). Sent once more
 * only when that answer's Date header showed the local clock far off: the new proof's iat is right.
 */
export async function refusesProof(answer: NonceAnswer, oauthError: OAuthErrorOf): Promise<boolean> {
	if (resourceRefusesProof(answer)) return true
	return answer.status === 400 && (await oauthError()) === 'invalid_dpop_proof'
}

/** How far the servers' clock may move with one answer before a refused proof is put down to the clock (RFC 9449 §11.1 windows are about a minute). */
export const CLOCK_RETRY_MS = 30_000

/** A resource server's refusal of the proof (RFC 9449 §7.1): told by the headers alone. */
export function resourceRefusesProof(answer: NonceAnswer): boolean {
	return answer.status === 401 && /\berror="?invalid_dpop_proof\b/i.test(answer.headers.get('www-authenticate') ?? '')
}

/** A resource server's nonce challenge (RFC 9449 §9): told by the headers alone, so it needs no body. */
export function resourceAsksForNonce(answer: NonceAnswer): boolean {
	return answer.status === 401 && !!answer.headers.get('dpop-nonce') && /\berror="?use_dpop_nonce\b/i.test(answer.headers.get('www-authenticate') ?? '')
}
