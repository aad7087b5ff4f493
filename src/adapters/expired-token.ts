/** `error=invalid_token` among the challenges, quoted or not; `error_description` does not match. */
const INVALID_TOKEN = /(?:^|[\s,])error\s*=\s*"?invalid_token(?:"|\s|,|$)/i

/**
 * Whether a 401 means the token expired (or was revoked), so that one refresh and one retry may
 * help. Where the server sends WWW-Authenticate, only `error="invalid_token"` says so (RFC 6750
 * §3.1, any scheme: Bearer, DPoP); any other challenge is a refusal a new token cannot cure (a
 * business rule, a missing scope), and the app's to handle. Without the header, which CORS also
 * hides from a page unless the server exposes it, a 401 is taken for an expired token.
 */
export function isExpiredTokenAnswer(wwwAuthenticate: string | null | undefined): boolean {
	return !wwwAuthenticate || INVALID_TOKEN.test(wwwAuthenticate)
}
