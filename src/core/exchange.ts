import type { Prover } from './dpop/prover.js'
import { LoginFailedError } from './errors/login-failed-error.js'
import { messageOf } from './errors/serialize.js'
import type { ExchangeRequest, TokenSet } from './protocol.js'
import { asRecord } from './record.js'
import { NO_REDIRECTS, checkedTokenSet, dpopFetch, oauthErrorOf, redirected, statusText, tokenSetFromBody } from './token-response.js'

/** Maps a login endpoint's JSON answer that is not OAuth-shaped to a TokenSet. */
export type ReadTokens = (body: unknown) => TokenSet

/**
 * The broker's default rule for exchange(): its own origin, and the refresh preset's token
 * endpoint. Anything else could make it adopt tokens an attacker obtained elsewhere.
 */
export function defaultExchangeUrls(origin: string, tokenEndpoint?: string): (url: URL) => boolean {
	const endpoint = tokenEndpoint === undefined ? undefined : new URL(tokenEndpoint, origin)
	return (url) => url.origin === origin || (endpoint !== undefined && url.origin === endpoint.origin && url.pathname === endpoint.pathname)
}

function tokensOf(body: unknown, readTokens: ReadTokens | undefined, status: number): TokenSet {
	let tokens: TokenSet | undefined
	try {
		tokens = readTokens === undefined ? tokenSetFromBody(asRecord(body)) : checkedTokenSet(readTokens(body))
	} catch (error) {
		throw new LoginFailedError(`The sign-in answered ${status}, but readTokens could not read it: ${messageOf(error)}`, { status, cause: error })
	}
	if (tokens === undefined) {
		throw new LoginFailedError(
			`The sign-in answered ${status} without an access token${readTokens === undefined ? ' (expected access_token or accessToken; give the broker a readTokens option for other shapes)' : ' in what readTokens returned'}.`,
			{ status },
		)
	}
	return tokens
}

/**
 * Performs the token-returning request inside the broker, so its refresh token never reaches page
 * script. A form body is sent as OAuth token endpoints take it, a `json` one as JSON login APIs do.
 */
export function exchangeWith(readTokens?: ReadTokens): (request: ExchangeRequest, signal: AbortSignal, dpop?: Prover) => Promise<TokenSet> {
	return async (request, signal, dpop) => {
		let response: Response
		try {
			const init: RequestInit = {
				method: 'POST',
				headers: {
					'content-type': request.json === undefined ? 'application/x-www-form-urlencoded' : 'application/json',
					accept: 'application/json',
					...request.headers,
				},
				body: request.json === undefined ? new URLSearchParams(request.body) : JSON.stringify(request.json),
				credentials: 'same-origin',
				cache: 'no-store',
				...NO_REDIRECTS,
				signal,
			}
			// With DPoP the tokens are bound to the key of the new session, the one this proof is signed with.
			response = await dpopFetch(request.url, init, dpop)
		} catch (error) {
			throw new LoginFailedError(
				`The sign-in request to ${request.url} failed before an answer came (${error instanceof Error ? error.message : 'network error'}). Check the connection and try again.`,
				{ cause: error },
			)
		}
		const redirect = redirected(response)
		if (redirect !== undefined) throw new LoginFailedError(`The sign-in request to ${request.url} ${redirect}.`, { status: response.status || undefined })
		const body: unknown = await response.json().catch(() => undefined)
		if (!response.ok) {
			const oauthError = oauthErrorOf(asRecord(body))
			throw new LoginFailedError(`The sign-in was refused (${statusText(response.status, oauthError)}).`, { status: response.status, oauthError })
		}
		return tokensOf(body, readTokens, response.status)
	}
}
