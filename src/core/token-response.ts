import type { Prover } from './dpop/prover.js'
import { RefreshRejectedError } from './errors/refresh-rejected-error.js'
import { RefreshUnavailableError } from './errors/refresh-unavailable-error.js'
import type { TokenSet } from './protocol.js'
import { asRecord } from './record.js'
import { classifyTokenFailure, configurationProblem } from './refresh-policy.js'

export type JsonBody = Record<string, unknown> | undefined

/** A request to the provider: with the session's DPoP key, it carries a proof (and the nonce, once asked). */
export function dpopFetch(url: string, init: RequestInit, dpop: Prover | undefined): Promise<Response> {
	return dpop === undefined ? fetch(url, init) : dpop.send(url, init)
}

/**
 * Requests that carry or return credentials follow no redirect: with a 307 or 308 their body (a
 * code and verifier, a password, a refresh token) would go along to wherever it points, and the
 * broker would adopt the tokens that come back from there. 'manual', not 'error', so that the
 * failure can say what happened.
 */
export const NO_REDIRECTS = { redirect: 'manual' } as const satisfies RequestInit

/**
 * What a redirect answer means, for the message of the failure it causes; undefined for any other
 * answer. Browsers show it as an opaque redirect (status 0), Node as the 3xx itself.
 */
export function redirected(response: Response): string | undefined {
	if (response.type !== 'opaqueredirect' && (response.status < 300 || response.status > 399)) return undefined
	return "answered with a redirect, which the broker does not follow lest the request's credentials go along: use the endpoint's final URL"
}

/** The body as JSON object, or undefined when it is not one (HTML error pages, empty bodies). */
export async function readJsonBody(response: Response): Promise<JsonBody> {
	return asRecord(await response.json().catch(() => undefined))
}

export function oauthErrorOf(body: JsonBody): string | undefined {
	return typeof body?.error === 'string' ? body.error.slice(0, 200) : undefined
}

/** A failed answer as messages name it: the status, and the OAuth error when there is one. */
export function statusText(status: number, oauthError: string | undefined): string {
	return oauthError ? `${status} ${oauthError}` : `${status}`
}

/** The one rule for a usable token set, whatever shape it came in: an access token, the rest when valid. */
function tokenSet(accessToken: unknown, refreshToken: unknown, expiresIn: unknown, expiresAt?: unknown, tokenType?: unknown): TokenSet | undefined {
	if (typeof accessToken !== 'string' || accessToken.length === 0) return undefined
	const tokens: TokenSet = { accessToken }
	// Absent means Bearer, as before DPoP: only another type (RFC 9449's 'DPoP') is kept.
	if (typeof tokenType === 'string' && tokenType.length > 0 && tokenType.length <= 32 && tokenType.toLowerCase() !== 'bearer') tokens.tokenType = tokenType
	if (typeof refreshToken === 'string' && refreshToken.length > 0) tokens.refreshToken = refreshToken
	if (Number.isFinite(expiresAt)) tokens.expiresAt = expiresAt as number
	if (Number.isFinite(expiresIn) && (expiresIn as number) > 0) tokens.expiresIn = expiresIn as number
	return tokens
}

/** What an app's readTokens returned, checked as any input: undefined unless it is a usable TokenSet. */
export function checkedTokenSet(value: unknown): TokenSet | undefined {
	if (typeof value !== 'object' || value === null) return undefined
	const { accessToken, refreshToken, expiresAt, expiresIn, tokenType } = value as Record<string, unknown>
	return tokenSet(accessToken, refreshToken, expiresIn, expiresAt, tokenType)
}

/** Accepts both RFC 6749 snake_case and camelCase token responses; undefined without a usable access token. */
export function tokenSetFromBody(body: JsonBody): TokenSet | undefined {
	// Endpoints send expires_in as a number or a numeric string.
	return tokenSet(body?.access_token ?? body?.accessToken, body?.refresh_token ?? body?.refreshToken, Number(body?.expires_in ?? body?.expiresIn), undefined, body?.token_type ?? body?.tokenType)
}

/**
 * A `Retry-After` on a 429 or 503 (RFC 9110 §10.2.3: seconds, or an HTTP date), in ms. A date
 * is measured against the answer's own `Date` header when there is one, so a wrong client clock
 * neither stretches nor cuts the wait. Cross-origin, the endpoint must expose both headers
 * (Access-Control-Expose-Headers) for the browser to show them.
 */
export function retryAfterMs(response: Response, now: number = Date.now()): number | undefined {
	if (response.status !== 429 && response.status !== 503) return undefined
	const header = response.headers.get('retry-after')?.trim()
	if (header === undefined || header === '') return undefined
	if (/^\d+$/.test(header)) return Number(header) * 1000
	// Every HTTP date names its month; Date.parse alone would take "-5" for a year.
	const until = /[a-z]/i.test(header) ? Date.parse(header) : Number.NaN
	if (Number.isNaN(until)) return undefined
	const serverNow = Date.parse(response.headers.get('date') ?? '')
	return Math.max(0, until - (Number.isNaN(serverNow) ? now : serverNow))
}

/** Reads a token endpoint's answer the way RFC 6749 §5 writes it, classifying every failure (docs/lifetimes-and-engines.md: "When the session ends"). */
export async function readTokenResponse(response: Response): Promise<TokenSet> {
	const redirect = redirected(response)
	if (redirect !== undefined) throw new RefreshUnavailableError(`the token endpoint ${redirect}`, { status: response.status || undefined })
	const body = await readJsonBody(response)
	const oauthError = oauthErrorOf(body)
	const status = statusText(response.status, oauthError)
	if (!response.ok && classifyTokenFailure(response.status, oauthError) === 'rejected') {
		const problem = configurationProblem(oauthError)
		const message =
			problem === undefined
				? `The token endpoint rejected the refresh (${status}). Sign in again.`
				: `The token endpoint refused the broker's refresh (${status}): ${problem}. Users are sent to sign in until this is fixed.`
		throw new RefreshRejectedError(message, { status: response.status, oauthError })
	}
	if (!response.ok) throw new RefreshUnavailableError(`the token endpoint answered ${status}`, { status: response.status, retryAfterMs: retryAfterMs(response) })
	if (body === undefined) throw new RefreshUnavailableError('the token endpoint answered with something that is not JSON', { status: response.status })
	const tokens = tokenSetFromBody(body)
	if (tokens === undefined) throw new RefreshUnavailableError('the token endpoint answered without an access token', { status: response.status })
	return tokens
}
