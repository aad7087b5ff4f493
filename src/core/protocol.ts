import type { ProtocolError } from './errors/protocol-error.js'

/**
 * The one message protocol between pages and the broker. Every message carries
 * `swtb: PROTOCOL_VERSION`; anything without it is somebody else's message and is ignored.
 * Requests travel with a MessagePort (ports[0]) that receives exactly one Reply.
 */
export const PROTOCOL_VERSION = 1

/** Why a session ended: the server refused the refresh, no refresh credentials were held, this tab logged out (`user`), or another did (`remote`). */
export type LogoutReason = 'refresh-rejected' | 'no-refresh-credentials' | 'user' | 'remote'

/** A token set as a login or a refresh gives it; with neither `expiresAt` nor `expiresIn`, a JWT access token's `exp` is read. */
export interface TokenSet {
	/** Sent as `Authorization: Bearer …`. */
	accessToken: string
	/** Kept by the broker only; never sent to a tab. */
	refreshToken?: string
	/** Epoch ms. */
	expiresAt?: number
	/** Seconds from now, as OAuth's `expires_in`. */
	expiresIn?: number
	/** From openIdProvider: kept by the broker for RP-initiated logout, never returned to the page. */
	idToken?: string
	/** The ID token's validated claims (client.state.user). */
	user?: Record<string, unknown>
	/** The token endpoint's token_type: 'DPoP' for a sender-constrained token (RFC 9449 §5). */
	tokenType?: string
}

/** What a tab needs to send a DPoP-bound token: the session's key (non-extractable, structured-cloned) and the servers' clock. */
export interface DPoPBinding {
	keyPair: CryptoKeyPair
	/** How far the servers' clock is ahead of the local one, ms: proofs' iat use it. */
	clockOffsetMs: number
	/** The key's RFC 7638 thumbprint: every broadcast clones the CryptoKeys anew, and this says it is the same key. */
	jkt: string
}

/** What a tab may know: never the refresh token. */
export interface TokenSnapshot {
	accessToken: string | null
	expiresAt?: number
	issuedAt?: number
	/** Increases on every login, refresh and logout, so a tab never goes back to an older state. */
	generation: number
	/** The ID token's claims, kept with the session. */
	user?: Record<string, unknown>
	/**
	 * Only in a reply: where this tab navigates next (sign-in: the authorization URL; completed
	 * sign-in: its returnTo; logout with endSession: the provider's end-session URL).
	 */
	location?: string
	/** 'DPoP' when the token is bound to the session's key; absent for a bearer token. */
	tokenType?: string
	/** With tokenType 'DPoP': the key every request with this token proves possession of. */
	dpop?: DPoPBinding
}

/** The broker's own view of a session: the only place a refresh token is kept. */
export interface HeldTokens {
	accessToken: string
	refreshToken?: string
	expiresAt?: number
	/** When the broker received it; with expiresAt it gives the lifetime that scales refresh-ahead. */
	issuedAt?: number
	idToken?: string
	user?: Record<string, unknown>
	tokenType?: string
}

/** client.signIn()'s options; the broker's sign-in flow (core/oidc) reads them. */
export interface SignInOptions {
	returnTo?: string
	prompt?: string
	loginHint?: string
	params?: Record<string, string>
}

/** What `exchange()` has the broker POST: a form (`body`) or JSON (`json`). */
export interface ExchangeRequest {
	/** Must be allowed by the broker's `exchangeUrls`. */
	url: string
	/** Sent as a form (application/x-www-form-urlencoded), as OAuth token endpoints take it. */
	body?: Record<string, string>
	/** Sent as application/json, for existing JSON login endpoints. */
	json?: unknown
	/** Extra request headers. Default: none. */
	headers?: Record<string, string>
}

export type BrokerRequest =
	| { type: 'hello' }
	/**
	 * `waitMs`: how long the page waits for this answer (default: the broker's refreshTimeoutMs).
	 * The request joins an attempt due within it; otherwise it is refused at once, with `retryAt`.
	 * `generation`: the tab's; a broker behind it (restarted, and seeded with an older token)
	 * refreshes rather than answer with its own older snapshot.
	 */
	| { type: 'refresh'; failedToken: string | null; waitMs?: number; generation?: number }
	| { type: 'login'; tokens: TokenSet }
	| { type: 'exchange'; request: ExchangeRequest }
	/** `endSession`: the reply carries the provider's end-session URL (RP-initiated logout) in `location`. */
	| { type: 'logout'; tab: string; endSession?: boolean }
	/** The reply's `location` is the authorization URL. */
	| { type: 'sign-in'; options: SignInOptions }
	/** The provider's answer at the redirect URI; the reply's `location` is the sign-in's returnTo. */
	| { type: 'complete-sign-in'; url: string }
	/** `issuedAt`: when the tab's token was received, so the restarted broker keeps its lifetime (spec 16). */
	| { type: 'seed'; accessToken: string; expiresAt?: number; issuedAt?: number; generation: number; tokenType?: string }
	| { type: 'ping' }
	/** The network came back or a tab became visible: the wait before the next refresh attempt starts over. */
	| { type: 'resume' }

export interface SerializedError {
	name: string
	message: string
	reason?: LogoutReason
	generation?: number
	status?: number
	oauthError?: string
	/** RefreshUnavailableError: when the broker allows its next attempt (epoch ms). */
	retryAt?: number
	/** RefreshUnavailableError: the token endpoint's Retry-After, in ms. */
	retryAfterMs?: number
	/** What the constructor builds the message from: RefreshUnavailableError's detail, ProtocolError's problem. */
	detail?: string
}

export type BrokerReply = { type: 'reply'; ok: true; snapshot: TokenSnapshot } | { type: 'reply'; ok: false; error: SerializedError }

export type BrokerBroadcast =
	| { type: 'token'; snapshot: TokenSnapshot }
	| { type: 'logout'; reason: LogoutReason; generation: number; tab?: string }
	/** A restarted broker that lost its memory asks tabs still holding an access token to seed it. */
	| { type: 'seed-request' }

/**
 * A whole session, refresh token included. It travels only between brokers: from an old
 * worker version to its successor, and between tabs of the in-page fallback. Never to page code.
 */
export interface SessionState {
	tokens: HeldTokens | null
	generation: number
	ended: LogoutReason | null
}

export type PeerMessage = { type: 'session-request' } | { type: 'session'; state: SessionState; broadcast?: BrokerBroadcast }

export type Envelope<T> = T & { swtb: typeof PROTOCOL_VERSION }

export type Parsed<T> = { kind: 'ignore' } | { kind: 'invalid'; error: ProtocolError } | { kind: 'ok'; message: T }

/** The longest a refresh request may ask the broker to wait: a page's wait is bounded too. */
export const MAX_WAIT_MS = 60_000

export function envelope<T extends object>(message: T): Envelope<T> {
	return { swtb: PROTOCOL_VERSION, ...message }
}
