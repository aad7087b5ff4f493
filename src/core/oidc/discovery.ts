import * as oauth from 'oauth4webapi'
import type { Prover } from '../dpop/prover.js'
import { LoginFailedError } from '../errors/login-failed-error.js'
import { dpopFetch } from '../token-response.js'

/** 127.0.0.0/8, ::1 and localhost: the only hosts plain http is allowed for (a provider in a test kit or on a dev machine). */
export function isLoopback(url: URL): boolean {
	return url.hostname === 'localhost' || url.hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(url.hostname)
}

/** https, or http on a loopback host; anything else is refused before a request is made. */
export function checkSecure(url: URL, what: string): URL {
	if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url))) return url
	throw new LoginFailedError(`The ${what} ${url.origin} is not https. Only a provider on this machine (localhost, 127.0.0.1, ::1) may use plain http.`, { oauthError: 'invalid_request' })
}

/**
 * The options every oauth4webapi request of one provider gets. oauth4webapi refuses plain http
 * altogether; for a loopback issuer it is allowed, and this fetch still refuses every URL that
 * is neither https nor loopback, so metadata cannot point the broker at http elsewhere.
 */
export function requestOptions(issuer: URL, signal: AbortSignal, keepalive?: boolean, dpop?: Prover): oauth.HttpRequestOptions<'GET' | 'POST', URLSearchParams | undefined> {
	return {
		signal,
		[oauth.allowInsecureRequests]: isLoopback(issuer),
		[oauth.customFetch]: (url, init) => {
			checkSecure(new URL(url), 'provider endpoint')
			const request: RequestInit = { ...init, credentials: 'omit', cache: 'no-store', ...(keepalive ? { keepalive } : {}) }
			// Through the key rather than oauth4webapi's DPoP option: the same nonce retry and clock
			// correction as exchange() and oauth2Refresh, where oauth4webapi would leave the retry to us.
			return dpopFetch(url, request, dpop)
		},
	}
}

/** Discovery (OpenID Connect Discovery 1.0), once per provider while its host lives; a failed one is tried again next time. */
export function discoveryOf(issuer: URL): (signal: AbortSignal) => Promise<oauth.AuthorizationServer> {
	let discovered: Promise<oauth.AuthorizationServer> | undefined
	return (signal) => {
		discovered ??= oauth
			.discoveryRequest(issuer, requestOptions(issuer, signal))
			.then((response) => oauth.processDiscoveryResponse(issuer, response))
			.catch((error: unknown) => {
				discovered = undefined
				throw error
			})
		return discovered
	}
}
