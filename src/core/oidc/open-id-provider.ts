import * as oauth from 'oauth4webapi'
import type { Prover } from '../dpop/prover.js'
import { LoginFailedError } from '../errors/login-failed-error.js'
import { messageOf } from '../errors/serialize.js'
import { RefreshRejectedError } from '../errors/refresh-rejected-error.js'
import { RefreshUnavailableError } from '../errors/refresh-unavailable-error.js'
import type { SignInOptions, TokenSet } from '../protocol.js'
import type { RefreshFunction } from '../refresh-function.js'
import { oauthErrorOf, readJsonBody, readTokenResponse, statusText } from '../token-response.js'
import { checkSecure, discoveryOf } from './discovery.js'
import { PENDING_SIGN_IN_TTL_MS, readPendingSignIn } from './pending-sign-in.js'
import type { SignInContext, SignInFlow } from './sign-in-flow.js'
import { type TokenEndpointCall, redeemCode, refreshGrant, revoke } from './token-endpoint.js'

/** Options of {@link openIdProvider}. */
export interface OpenIdProviderOptions {
	/** Discovery reads `<issuer>/.well-known/openid-configuration`. */
	issuer: string
	clientId: string
	/** Default 'openid offline_access'. */
	scope?: string
	/** Resolved against the broker's origin. */
	redirectUri: string
	/** Where the provider sends the browser after an RP-initiated logout; resolved against the broker's origin. */
	postLogoutRedirectUri?: string
	/** Extra authorization parameters for every sign-in (Auth0's `audience`, …). */
	params?: Record<string, string>
}

const DEFAULT_SCOPE = 'openid offline_access'
/** The authorization request's own parameters: neither the preset's nor a sign-in's params may set them. */
const PROTOCOL_PARAMS: ReadonlySet<string> = new Set(['client_id', 'response_type', 'redirect_uri', 'state', 'nonce', 'code_challenge', 'code_challenge_method'])

/** The callback's own checks (oauth4webapi): the provider's error answer, or an `iss` (RFC 9207) that is not this issuer's. */
function callbackFailure(error: unknown): LoginFailedError {
	if (error instanceof oauth.AuthorizationResponseError) {
		return new LoginFailedError(`The provider refused the sign-in (${error.error}${error.error_description ? `: ${error.error_description}` : ''}). Sign in again.`, {
			oauthError: error.error,
			cause: error,
		})
	}
	const message = messageOf(error)
	return new LoginFailedError(`The sign-in answer is not this provider's: ${message}. Sign in again.`, { oauthError: /"iss"/.test(message) ? 'invalid_issuer' : 'invalid_request', cause: error })
}

/** A 200 from the token endpoint that oauth4webapi does not accept: most often the ID token (iss, aud, exp, nonce). */
function answerFailure(error: unknown): LoginFailedError {
	const code = (error as { code?: unknown } | null)?.code
	const message = messageOf(error)
	const idToken = code === oauth.JWT_CLAIM_COMPARISON || code === oauth.JWT_TIMESTAMP_CHECK || /id_token|ID Token/i.test(message)
	return new LoginFailedError(idToken ? `The provider's ID token is not valid for this sign-in: ${message}. Sign in again.` : `The token endpoint's answer is not usable: ${message}. Sign in again.`, {
		oauthError: idToken ? 'invalid_id_token' : 'invalid_response',
		cause: error,
	})
}

const invalidState = (why: string) => new LoginFailedError(`This sign-in answer's state ${why}. Sign in again.`, { oauthError: 'invalid_state' })

/** The token set, with the ID token and its validated claims when the answer carried one. */
function tokensOf(result: oauth.TokenEndpointResponse): TokenSet {
	const tokens: TokenSet = { accessToken: result.access_token }
	// oauth4webapi lowercases token_type; the broker keeps RFC 9449's spelling.
	if (result.token_type === 'dpop') tokens.tokenType = 'DPoP'
	if (result.refresh_token) tokens.refreshToken = result.refresh_token
	if (typeof result.expires_in === 'number' && result.expires_in > 0) tokens.expiresIn = result.expires_in
	const claims = oauth.getValidatedIdTokenClaims(result)
	if (result.id_token !== undefined && claims !== undefined) {
		tokens.idToken = result.id_token
		tokens.user = { ...claims }
	}
	return tokens
}

/**
 * Sign-in and refresh at any OpenID provider, on oauth4webapi: discovery (cached), the
 * authorization-code flow with S256 PKCE, state and nonce, refresh with rotation, revocation at
 * logout where the provider has a revocation endpoint, RP-initiated logout.
 */
export function openIdProvider(options: OpenIdProviderOptions): RefreshFunction {
	const issuer = new URL(options.issuer)
	checkSecure(issuer, 'issuer')
	const discovered = discoveryOf(issuer)
	const client: oauth.Client = { client_id: options.clientId }
	const scope = options.scope ?? DEFAULT_SCOPE
	const call = async (signal: AbortSignal, dpop: Prover | undefined): Promise<TokenEndpointCall> => ({ as: await discovered(signal), client, issuer, signal, ...(dpop === undefined ? {} : { dpop }) })
	const endpoint = (as: oauth.AuthorizationServer, name: 'authorization_endpoint' | 'end_session_endpoint'): URL | undefined => {
		const url = as[name]
		return url === undefined ? undefined : checkSecure(new URL(url), name.replace(/_/g, ' '))
	}
	const discover = (signal: AbortSignal) =>
		discovered(signal).catch((error: unknown) => {
			throw new LoginFailedError(`The provider's discovery at ${issuer.href} failed (${messageOf(error)}). Check the issuer and that it allows this origin (CORS).`, {
				oauthError: 'temporarily_unavailable',
				cause: error,
			})
		})

	const flow: SignInFlow = {
		async begin(request: SignInOptions, context: SignInContext) {
			const as = await discover(context.signal)
			const authorization = endpoint(as, 'authorization_endpoint')
			if (authorization === undefined) throw new LoginFailedError(`${issuer.href} publishes no authorization_endpoint.`, { oauthError: 'invalid_request' })
			let returnTo: string | undefined
			if (request.returnTo !== undefined) {
				const target = new URL(request.returnTo, context.origin)
				// An open redirect otherwise: the callback page navigates wherever returnTo says.
				if (target.origin !== context.origin) throw new LoginFailedError(`signIn({ returnTo }) must stay on ${context.origin}, not go to ${target.origin}.`, { oauthError: 'invalid_request' })
				returnTo = target.pathname + target.search + target.hash
			}
			const codeVerifier = oauth.generateRandomCodeVerifier()
			const pending = {
				state: oauth.generateRandomState(),
				nonce: oauth.generateRandomNonce(),
				codeVerifier,
				redirectUri: new URL(options.redirectUri, context.origin).href,
				createdAt: context.now,
				...(returnTo === undefined ? {} : { returnTo }),
			}
			const params = new URLSearchParams({ scope })
			const extra = {
				...options.params,
				...(request.prompt === undefined ? {} : { prompt: request.prompt }),
				...(request.loginHint === undefined ? {} : { login_hint: request.loginHint }),
				...request.params,
			}
			for (const [name, value] of Object.entries(extra)) if (!PROTOCOL_PARAMS.has(name)) params.set(name, value)
			params.set('client_id', options.clientId)
			params.set('response_type', 'code')
			params.set('redirect_uri', pending.redirectUri)
			params.set('state', pending.state)
			params.set('nonce', pending.nonce)
			params.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier))
			params.set('code_challenge_method', 'S256')
			await context.pending.put(pending, context.now - PENDING_SIGN_IN_TTL_MS)
			authorization.search = params.toString()
			return authorization.href
		},

		async complete(callbackUrl, context) {
			const callback = new URL(callbackUrl, context.origin)
			const state = callback.searchParams.get('state')
			if (state === null || state.length === 0) throw invalidState('is missing')
			// Taken before anything else is checked: an answer is looked at once, whatever it says.
			const pending = readPendingSignIn(await context.pending.take(state), state, context.now)
			if (pending === undefined) throw invalidState('was not issued by this broker, was already used, or is older than 10 minutes')
			const expected = new URL(pending.redirectUri)
			if (callback.origin !== expected.origin || callback.pathname !== expected.pathname) {
				throw new LoginFailedError(`The sign-in answer came to ${callback.origin}${callback.pathname}, not to the redirect URI ${expected.origin}${expected.pathname}.`, {
					oauthError: 'invalid_request',
				})
			}
			const as = await discover(context.signal)
			let answer: URLSearchParams
			try {
				answer = oauth.validateAuthResponse(as, client, callback.searchParams, pending.state)
			} catch (error) {
				throw callbackFailure(error)
			}
			const endpointCall = await call(context.signal, context.dpop)
			let response: Response
			try {
				response = await redeemCode(endpointCall, answer, pending.redirectUri, pending.codeVerifier)
			} catch (error) {
				if (error instanceof LoginFailedError) throw error
				throw new LoginFailedError(`The code could not be redeemed at the token endpoint (${messageOf(error)}). Check the connection and CORS at the provider, then sign in again.`, {
					oauthError: 'temporarily_unavailable',
					cause: error,
				})
			}
			if (!response.ok) {
				const oauthError = oauthErrorOf(await readJsonBody(response))
				throw new LoginFailedError(`The token endpoint refused the code (${statusText(response.status, oauthError)}). Sign in again.`, {
					status: response.status,
					oauthError: oauthError ?? 'server_error',
				})
			}
			let result: oauth.TokenEndpointResponse
			try {
				result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: pending.nonce, requireIdToken: true })
			} catch (error) {
				throw answerFailure(error)
			}
			return { tokens: tokensOf(result), ...(pending.returnTo === undefined ? {} : { returnTo: pending.returnTo }) }
		},

		async endSessionUrl(idToken, context) {
			const url = endpoint(await discover(context.signal), 'end_session_endpoint')
			if (url === undefined) return undefined
			url.searchParams.set('client_id', options.clientId)
			if (idToken !== undefined) url.searchParams.set('id_token_hint', idToken)
			if (options.postLogoutRedirectUri !== undefined) url.searchParams.set('post_logout_redirect_uri', new URL(options.postLogoutRedirectUri, context.origin).href)
			return url.href
		},
	}

	const refresh: RefreshFunction = async ({ refreshToken, signal, dpop }) => {
		if (refreshToken === undefined)
			throw new RefreshRejectedError('No refresh token is held, so the session cannot be renewed. Ask for offline_access (or what the provider needs for refresh tokens), then sign in again.', {
				reason: 'no-refresh-credentials',
			})
		const endpointCall = await call(signal, dpop)
		const response = await refreshGrant(endpointCall, refreshToken)
		// Failures are classified as every preset's are (README: "When the session ends").
		if (!response.ok) return readTokenResponse(response)
		try {
			return tokensOf(await oauth.processRefreshTokenResponse(endpointCall.as, client, response))
		} catch (error) {
			throw new RefreshUnavailableError(`the token endpoint's answer is not usable: ${messageOf(error)}`, { status: response.status, cause: error })
		}
	}
	refresh.signIn = flow
	refresh.logout = async ({ refreshToken, signal, dpop }) => {
		if (refreshToken === undefined) return
		const endpointCall = await call(signal, dpop)
		if (endpointCall.as.revocation_endpoint !== undefined) await revoke(endpointCall, refreshToken)
	}
	return refresh
}
