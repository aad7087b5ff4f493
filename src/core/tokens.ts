import type { HeldTokens, TokenSet, TokenSnapshot } from './protocol.js'

/**
 * When a JWT access token expires, in the local clock (ms); opaque tokens yield undefined.
 * `exp` is the server's clock: with `iat` beside it, the lifetime (exp − iat) counts from
 * `receivedAt`, so a client clock minutes off neither refreshes every request nor sends expired
 * tokens (spec 16). Without `iat`, `exp` is all there is.
 */
export function jwtExpiry(token: string, receivedAt: number): number | undefined {
	const payload = token.split('.')[1]
	if (payload === undefined) return undefined
	let claims: object
	try {
		// Any JSON parses: null has no claims, and a number or string has none of these.
		claims = (JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as object | null) ?? {}
	} catch {
		return undefined
	}
	// Typed as claimed; Number.isFinite rejects whatever is not a number.
	const { exp, iat } = claims as { exp: number; iat: number }
	if (!Number.isFinite(exp)) return undefined
	return Number.isFinite(iat) && iat <= exp ? receivedAt + (exp - iat) * 1000 : exp * 1000
}

/**
 * Turns what a login or refresh returned into absolute expiry in the local clock: `expiresIn`
 * counts from receipt, and `issuedAt` is the receipt, so expiresAt − issuedAt is the lifetime.
 * An explicit `expiresAt` is the app's own and kept as given. A refresh that brings no new ID
 * token keeps the `previous` one and its user.
 */
export function holdTokens(tokens: TokenSet, receivedAt: number, previousRefreshToken?: string, previous?: HeldTokens | null): HeldTokens {
	const held: HeldTokens = { accessToken: tokens.accessToken, issuedAt: receivedAt }
	const refreshToken = tokens.refreshToken ?? previousRefreshToken
	if (refreshToken !== undefined) held.refreshToken = refreshToken
	const expiresAt = tokens.expiresAt ?? (tokens.expiresIn === undefined ? jwtExpiry(tokens.accessToken, receivedAt) : receivedAt + tokens.expiresIn * 1000)
	if (expiresAt !== undefined) held.expiresAt = expiresAt
	const identity = tokens.idToken === undefined ? previous : tokens
	if (identity?.idToken !== undefined) held.idToken = identity.idToken
	if (identity?.user !== undefined) held.user = identity.user
	if (tokens.tokenType !== undefined) held.tokenType = tokens.tokenType
	return held
}

export function snapshotOf(tokens: HeldTokens | null, generation: number): TokenSnapshot {
	if (tokens === null) return { accessToken: null, generation }
	const snapshot: TokenSnapshot = { accessToken: tokens.accessToken, generation }
	if (tokens.expiresAt !== undefined) snapshot.expiresAt = tokens.expiresAt
	if (tokens.issuedAt !== undefined) snapshot.issuedAt = tokens.issuedAt
	if (tokens.user !== undefined) snapshot.user = tokens.user
	return snapshot
}
