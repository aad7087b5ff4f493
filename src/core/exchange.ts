import { LoginFailedError } from './errors/login-failed-error.js'
import type { ExchangeRequest, TokenSet } from './protocol.js'
import { oauthErrorOf, readJsonBody, tokenSetFromBody } from './token-response.js'

/**
 * The broker's default rule for exchange(): its own origin, and the refresh preset's token
 * endpoint. Anything else could make it adopt tokens an attacker obtained elsewhere.
 */
export function defaultExchangeUrls(origin: string, tokenEndpoint?: string): (url: URL) => boolean {
	const endpoint = tokenEndpoint === undefined ? undefined : new URL(tokenEndpoint, origin)
	return (url) => url.origin === origin || (endpoint !== undefined && url.origin === endpoint.origin && url.pathname === endpoint.pathname)
}

/** Performs the token-returning request inside the broker, so its refresh token never reaches page script. */
export async function performExchange(request: ExchangeRequest, signal: AbortSignal): Promise<TokenSet> {
	let response: Response
	try {
		response = await fetch(request.url, {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...request.headers },
			body: new URLSearchParams(request.body),
			credentials: 'same-origin',
			cache: 'no-store',
			signal,
		})
	} catch (error) {
		throw new LoginFailedError(`The sign-in request to ${request.url} failed before an answer came (${error instanceof Error ? error.message : 'network error'}). Check the connection and try again.`, { cause: error })
	}
	const body = await readJsonBody(response)
	const oauthError = oauthErrorOf(body)
	if (!response.ok) {
		throw new LoginFailedError(`The sign-in was refused (${response.status}${oauthError ? ` ${oauthError}` : ''}).`, { status: response.status, oauthError })
	}
	const tokens = tokenSetFromBody(body)
	if (tokens === undefined) throw new LoginFailedError(`The sign-in answered ${response.status} without an access token.`, { status: response.status })
	return tokens
}
