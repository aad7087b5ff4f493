import { RefreshRejectedError } from './errors/refresh-rejected-error.js'
import type { TokenSet } from './protocol.js'
import { readTokenResponse } from './refresh-policy.js'

export interface RefreshContext {
	refreshToken?: string
	signal: AbortSignal
}

/**
 * Gets a new token set. Throw RefreshRejectedError to end the session; any other failure
 * is transient. `tokenEndpoint`, when set, is also an allowed exchange() URL.
 */
export type RefreshFunction = ((context: RefreshContext) => Promise<TokenSet>) & { tokenEndpoint?: string }

export interface OAuth2RefreshOptions {
	tokenEndpoint: string
	clientId: string
	scope?: string
}

/** RFC 6749 §6 refresh grant; keeps the rotated refresh token when the server returns one. */
export function oauth2Refresh(options: OAuth2RefreshOptions): RefreshFunction {
	const refresh: RefreshFunction = async ({ refreshToken, signal }) => {
		if (refreshToken === undefined) {
			throw new RefreshRejectedError('No refresh token is held, so the session cannot be renewed. Sign in again.', { reason: 'no-refresh-credentials' })
		}
		const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: options.clientId })
		if (options.scope !== undefined) body.set('scope', options.scope)
		const response = await fetch(options.tokenEndpoint, {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
			body,
			signal,
			credentials: 'omit',
			cache: 'no-store',
		})
		return readTokenResponse(response)
	}
	refresh.tokenEndpoint = options.tokenEndpoint
	return refresh
}

export interface CookieRefreshOptions {
	url: string
	method?: 'POST' | 'GET'
}

/** The refresh token lives in an HttpOnly cookie the browser sends; script never sees it. */
export function cookieRefresh(options: CookieRefreshOptions): RefreshFunction {
	return async ({ signal }) => {
		const response = await fetch(options.url, {
			method: options.method ?? 'POST',
			headers: { accept: 'application/json' },
			credentials: 'include',
			signal,
			cache: 'no-store',
		})
		return readTokenResponse(response)
	}
}
