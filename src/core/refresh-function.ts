import type { SignInFlow } from './oidc/sign-in-flow.js'
import type { Prover } from './dpop/prover.js'
import type { TokenSet } from './protocol.js'

/** What the broker hands a refresh function. */
export interface RefreshContext {
	/** The refresh token held, if any (none with cookie refresh). */
	refreshToken?: string
	/** Aborted when the broker abandons the call (3 × `refreshTimeoutMs`) or the worker closes. */
	signal: AbortSignal
	/** With `dpop: true`: the session's key. A preset sends its token-endpoint requests with sendWithProof. */
	dpop?: Prover
}

/**
 * Gets a new token set. Throw RefreshRejectedError to end the session; any other failure
 * is transient. `tokenEndpoint`, when set, is also an allowed exchange() URL. `logout`, when
 * set, ends the session at the server on a user logout, so the refresh credential (an
 * HttpOnly cookie, a refresh token) cannot bring it back, not even in a restarted worker.
 */
export type RefreshFunction = ((context: RefreshContext) => Promise<TokenSet>) & {
	tokenEndpoint?: string
	/** Ends the session at the server on a user logout. */
	logout?: (context: RefreshContext) => Promise<void>
	/** The authorization-code flow, for signIn() and completeSignIn() (openIdProvider). */
	signIn?: SignInFlow
}
