import { RefreshRejectedError } from './errors/refresh-rejected-error.js'
import { RefreshUnavailableError } from './errors/refresh-unavailable-error.js'
import type { TokenSet } from './protocol.js'

export type JsonBody = Record<string, unknown> | undefined

/** A JSON object, or undefined for anything else (arrays, strings, nothing). */
export function asRecord(value: unknown): JsonBody {
	return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
}

/** The body as JSON object, or undefined when it is not one (HTML error pages, empty bodies). */
export async function readJsonBody(response: Response): Promise<JsonBody> {
	return asRecord(await response.json().catch(() => undefined))
}

export function oauthErrorOf(body: JsonBody): string | undefined {
	return typeof body?.error === 'string' ? body.error.slice(0, 200) : undefined
}

/** What an app's readTokens returned, checked as any input: undefined unless it is a usable TokenSet. */
export function checkedTokenSet(value: unknown): TokenSet | undefined {
	if (typeof value !== 'object' || value === null) return undefined
	const { accessToken, refreshToken, expiresAt, expiresIn } = value as Record<string, unknown>
	if (typeof accessToken !== 'string' || accessToken.length === 0) return undefined
	const tokens: TokenSet = { accessToken }
	if (typeof refreshToken === 'string' && refreshToken.length > 0) tokens.refreshToken = refreshToken
	if (typeof expiresAt === 'number' && Number.isFinite(expiresAt)) tokens.expiresAt = expiresAt
	if (typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0) tokens.expiresIn = expiresIn
	return tokens
}

/** Accepts both RFC 6749 snake_case and camelCase token responses; undefined without a usable access token. */
export function tokenSetFromBody(body: JsonBody): TokenSet | undefined {
	const accessToken = body?.access_token ?? body?.accessToken
	if (typeof accessToken !== 'string' || accessToken.length === 0) return undefined
	const tokens: TokenSet = { accessToken }
	const refreshToken = body?.refresh_token ?? body?.refreshToken
	if (typeof refreshToken === 'string' && refreshToken.length > 0) tokens.refreshToken = refreshToken
	const expiresIn = Number(body?.expires_in ?? body?.expiresIn)
	if (Number.isFinite(expiresIn) && expiresIn > 0) tokens.expiresIn = expiresIn
	return tokens
}

/** Reads a token endpoint's answer the way RFC 6749 §5 writes it, classifying every failure. */
export async function readTokenResponse(response: Response): Promise<TokenSet> {
	const body = await readJsonBody(response)
	const oauthError = oauthErrorOf(body)
	const status = `${response.status}${oauthError ? ` ${oauthError}` : ''}`
	if (response.status === 401 || (response.status === 400 && oauthError === 'invalid_grant')) {
		throw new RefreshRejectedError(`The token endpoint rejected the refresh (${status}). Sign in again.`, { status: response.status })
	}
	if (!response.ok) throw new RefreshUnavailableError(`the token endpoint answered ${status}`)
	if (body === undefined) throw new RefreshUnavailableError('the token endpoint answered with something that is not JSON')
	const tokens = tokenSetFromBody(body)
	if (tokens === undefined) throw new RefreshUnavailableError('the token endpoint answered without an access token')
	return tokens
}
