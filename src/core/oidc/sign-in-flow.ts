import type { Prover } from '../dpop/prover.js'
import type { SignInOptions, TokenSet } from '../protocol.js'
import type { PendingSignIns } from './pending-sign-in.js'

/** What the broker lends the flow for one call. */
export interface SignInContext {
	/** The broker's origin: the redirect URI and returnTo are resolved against it. */
	origin: string
	pending: PendingSignIns
	signal: AbortSignal
	now: number
	/** With `dpop: true`, at the callback: the new key the code exchange proves and the tokens are bound to. */
	dpop?: Prover
}

export interface CompletedSignIn {
	tokens: TokenSet
	returnTo?: string
}

/**
 * The authorization-code flow a refresh preset brings along (openIdProvider): the broker calls
 * it, so the code verifier and the refresh token stay in the broker. Every failure is a
 * LoginFailedError with its oauthError.
 */
export interface SignInFlow {
	/** Keeps a new pending sign-in and returns the authorization URL for the page to navigate to. */
	begin(request: SignInOptions, context: SignInContext): Promise<string>
	/** Checks the callback URL against its pending sign-in, redeems the code, validates the ID token. */
	complete(callbackUrl: string, context: SignInContext): Promise<CompletedSignIn>
	/** RP-initiated logout: the provider's end-session URL, or undefined where it has none. */
	endSessionUrl(idToken: string | undefined, context: SignInContext): Promise<string | undefined>
}
