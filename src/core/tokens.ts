import type { HeldTokens, TokenSet, TokenSnapshot } from './protocol.js'

/** Reads the `exp` claim of a JWT access token, if it is one; opaque tokens yield undefined. */
export function jwtExpiry(token: string): number | undefined {
	const payload = token.split('.')[1]
	if (payload === undefined) return undefined
	try {
		const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'))
		const exp: unknown = JSON.parse(json).exp
		return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined
	} catch {
		return undefined
	}
}

/** Turns what a login or refresh returned into absolute expiry; `expiresIn` counts from receipt. */
export function holdTokens(tokens: TokenSet, now: number, previousRefreshToken?: string): HeldTokens {
	const held: HeldTokens = { accessToken: tokens.accessToken, issuedAt: now }
	const refreshToken = tokens.refreshToken ?? previousRefreshToken
	if (refreshToken !== undefined) held.refreshToken = refreshToken
	const expiresAt = tokens.expiresAt ?? (tokens.expiresIn === undefined ? jwtExpiry(tokens.accessToken) : now + tokens.expiresIn * 1000)
	if (expiresAt !== undefined) held.expiresAt = expiresAt
	return held
}

export function snapshotOf(tokens: HeldTokens | null, generation: number): TokenSnapshot {
	if (tokens === null) return { accessToken: null, generation }
	const snapshot: TokenSnapshot = { accessToken: tokens.accessToken, generation }
	if (tokens.expiresAt !== undefined) snapshot.expiresAt = tokens.expiresAt
	if (tokens.issuedAt !== undefined) snapshot.issuedAt = tokens.issuedAt
	return snapshot
}
