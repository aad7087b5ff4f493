import * as oauth from 'oauth4webapi'
import type { Prover } from '../dpop/prover.js'
import { requestOptions } from './discovery.js'

/**
 * Every request this preset makes to the token and revocation endpoints, in one place: a DPoP
 * key passed here binds the code exchange, the refresh and the revocation alike.
 */
export interface TokenEndpointCall {
	as: oauth.AuthorizationServer
	client: oauth.Client
	issuer: URL
	signal: AbortSignal
	/** With `dpop: true`: the sign-in's new key, or the session's for a refresh and the revocation. */
	dpop?: Prover
}

const auth = oauth.None()

const options = (call: TokenEndpointCall, keepalive?: boolean): oauth.TokenEndpointRequestOptions => requestOptions(call.issuer, call.signal, keepalive, call.dpop)

export function redeemCode(call: TokenEndpointCall, callback: URLSearchParams, redirectUri: string, codeVerifier: string): Promise<Response> {
	return oauth.authorizationCodeGrantRequest(call.as, call.client, auth, callback, redirectUri, codeVerifier, options(call))
}

export function refreshGrant(call: TokenEndpointCall, refreshToken: string): Promise<Response> {
	return oauth.refreshTokenGrantRequest(call.as, call.client, auth, refreshToken, options(call))
}

/** keepalive: in the in-page host the navigation after a logout must not cancel it. */
export async function revoke(call: TokenEndpointCall, refreshToken: string): Promise<void> {
	await oauth.processRevocationResponse(await oauth.revocationRequest(call.as, call.client, auth, refreshToken, { ...options(call, true), additionalParameters: { token_type_hint: 'refresh_token' } }))
}
