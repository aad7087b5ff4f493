import type { Prover } from './dpop/prover.js'
import { RefreshRejectedError } from './errors/refresh-rejected-error.js'
import type { RefreshFunction } from './refresh-function.js'
import { NO_REDIRECTS, dpopFetch, readTokenResponse, redirected } from './token-response.js'

/** A server logout: keepalive, so that the navigation to the login page that follows does not cancel it. */
async function post(url: string, init: RequestInit, dpop?: Prover): Promise<void> {
	const response = await dpopFetch(url, { method: 'POST', cache: 'no-store', keepalive: true, ...init, ...NO_REDIRECTS }, dpop)
	const redirect = redirected(response)
	if (redirect !== undefined) throw new Error(`${url} ${redirect}`)
	if (!response.ok) throw new Error(`${url} answered ${response.status}`)
}

/** Options of {@link oauth2Refresh}. */
export interface OAuth2RefreshOptions {
	/** The token endpoint; another origin must answer CORS for the app's. Also allowed for `exchange()` by default. */
	tokenEndpoint: string
	/** The public client's id, sent with every refresh (no secret). */
	clientId: string
	/** Sent as `scope` with the refresh. Default: none, so the server keeps the granted scope. */
	scope?: string
	/** RFC 7009 revocation endpoint: a user logout revokes the refresh token there. Default: none, no revocation. */
	revocationEndpoint?: string
}

/** RFC 6749 §6 refresh grant; keeps the rotated refresh token when the server returns one. */
export function oauth2Refresh(options: OAuth2RefreshOptions): RefreshFunction {
	const refresh: RefreshFunction = async ({ refreshToken, signal, dpop }) => {
		if (refreshToken === undefined) {
			throw new RefreshRejectedError('No refresh token is held, so the session cannot be renewed. Sign in again.', { reason: 'no-refresh-credentials' })
		}
		const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: options.clientId })
		if (options.scope !== undefined) body.set('scope', options.scope)
		const response = await dpopFetch(
			options.tokenEndpoint,
			{
				method: 'POST',
				headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
				body,
				signal,
				credentials: 'omit',
				cache: 'no-store',
				...NO_REDIRECTS,
				// Ahead of the app's own requests queued on the same connections: they wait for this one.
				priority: 'high',
			},
			dpop,
		)
		return readTokenResponse(response)
	}
	refresh.tokenEndpoint = options.tokenEndpoint
	const { revocationEndpoint } = options
	if (revocationEndpoint !== undefined) {
		refresh.logout = async ({ refreshToken, signal, dpop }) => {
			if (refreshToken === undefined) return
			const body = new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token', client_id: options.clientId })
			await post(revocationEndpoint, { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, signal, credentials: 'omit' }, dpop)
		}
	}
	return refresh
}

/** Options of {@link cookieRefresh}. */
export interface CookieRefreshOptions {
	/** The refresh endpoint; it reads the HttpOnly cookie and answers `access_token`/`accessToken` and `expires_in`/`expiresIn`. */
	url: string
	/** Default `'POST'`. */
	method?: 'POST' | 'GET'
	/** Where a user logout ends the session and clears the HttpOnly cookie (script cannot). Default: none. */
	logoutUrl?: string
}

/** The refresh token lives in an HttpOnly cookie the browser sends; script never sees it. */
export function cookieRefresh(options: CookieRefreshOptions): RefreshFunction {
	const refresh: RefreshFunction = async ({ signal }) => {
		const response = await fetch(options.url, {
			method: options.method ?? 'POST',
			headers: { accept: 'application/json' },
			credentials: 'include',
			signal,
			cache: 'no-store',
			...NO_REDIRECTS,
			priority: 'high',
		})
		return readTokenResponse(response)
	}
	const { logoutUrl } = options
	if (logoutUrl !== undefined) refresh.logout = ({ signal }) => post(logoutUrl, { credentials: 'include', signal })
	return refresh
}
