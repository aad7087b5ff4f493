import { type IsUnauthorized, authorizedFetch } from './adapters/fetch.js'
import type { BrokerEvent } from './core/broker-core.js'
import type { ExchangeRequest, LogoutReason, SignInOptions, TokenSet } from './core/protocol.js'
import { reporter } from './core/report.js'
import { checkDuration } from './core/check-duration.js'
import { authorizedSender, registerSender } from './session/authorized-send.js'
import { type ClientState, type TabEvent, type TabSession, type TokenEvent, tabSession } from './session/tab-session.js'
import { DEFAULT_KEEP_ALIVE_MS, keepAlive } from './transports/keep-alive.js'
import { type BrokerHost, type Fallback, type ServiceWorkerOption, selectConnection } from './transports/select.js'

export interface TokenClientOptions {
	/** How to reach the broker. Default: the service worker registered for this page, if any. */
	serviceWorker?: ServiceWorkerOption
	/** Used when no service worker can be used. */
	fallback?: Fallback | false
	/** Default '/login'. */
	loginUrl?: string
	/** Default: location.assign(loginUrl). */
	onLogout?: (reason: LogoutReason) => void
	/** Which requests get "Authorization: Bearer …". Default: same origin only. */
	authorize?: (url: URL) => boolean
	/** Refresh this long before expiry. Default 30 s, but at most a fifth of the token's lifetime; one given here at most half. */
	refreshAheadMs?: number
	/** How long the page waits for the broker. Default 15 000 ms. */
	timeoutMs?: number
	/** Ping interval that keeps a memory-only worker alive while a tab is open; false turns it off. Default 20 000 ms. */
	keepAliveMs?: number | false
	/** Telemetry: which host was chosen, refresh waits with duration and outcome, session ends; the broker's own events too in the in-page host. */
	onEvent?: (event: TokenClientEvent) => void
	/** Logs the same events with console.debug. */
	debug?: boolean
	/** For APIs that report an expired token inside a 200 (GraphQL's UNAUTHENTICATED): client.fetch treats an answer this says true for as a 401. Gets a clone of the response. */
	isUnauthorized?: IsUnauthorized
}

export type TokenClientEvent = TabEvent | BrokerEvent

export interface TokenClient {
	/** A fetch with the broker's token: authorize, refresh ahead of expiry, 401 → one refresh for all tabs → one retry. */
	fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>
	/** Auth state for UIs: the same object until it changes. */
	readonly state: ClientState
	login(tokens: TokenSet): Promise<void>
	exchange(request: ExchangeRequest): Promise<void>
	/** The broker (openIdProvider) makes the authorization URL with PKCE, state and nonce; this tab navigates there. */
	signIn(options?: SignInOptions): Promise<void>
	/** On the redirect URI's page (default: location.href): every tab is signed in. The query is the page's to clean. */
	completeSignIn(url?: string): Promise<{ returnTo?: string }>
	/** Every tab logs out; `endSession`: then this tab goes to the provider's end-session endpoint (RP-initiated logout). */
	logout(options?: { endSession?: boolean }): Promise<void>
	getAccessToken(): Promise<string | null>
	refresh(): Promise<string>
	subscribe(listener: (event: TokenEvent) => void): () => void
	close(): void
}

/** Loaded on first use: an app that never signs in this way ships none of it eagerly. */
const signInFlow = () => import('./session/sign-in.js')

export function createTokenClient(options: TokenClientOptions = {}): TokenClient {
	checkDuration('timeoutMs', options.timeoutMs, 1)
	checkDuration('refreshAheadMs', options.refreshAheadMs, 0)
	if (options.keepAliveMs !== false) checkDuration('keepAliveMs', options.keepAliveMs, 1)
	const onEvent = reporter(options.onEvent, options.debug, 'page')
	const { connection, host } = selectConnection({ ...options, onEvent })
	const session = tabSession(connection, {
		...options,
		onEvent,
		onLogout: options.onLogout ?? (() => globalThis.location.assign(options.loginUrl ?? '/login')),
	})
	return clientOver(session, host, options, onEvent)
}

/** The client around a tab's session; tests build it over a session of their own. */
export function clientOver(session: TabSession, host: Promise<BrokerHost>, options: TokenClientOptions, onEvent?: (event: TokenClientEvent) => void): TokenClient {
	const sender = authorizedSender(session, options.authorize ?? ((url) => url.origin === globalThis.location.origin))
	// close() ends the listeners and the keep-alive in one go.
	const closed = new AbortController()
	const { signal } = closed
	// Back online, or back in view: a token that expired meanwhile is refreshed now, not on the next request's 401.
	globalThis.addEventListener?.('online', session.resume, { signal })
	globalThis.document?.addEventListener('visibilitychange', () => {
		if (globalThis.document.visibilityState === 'visible') session.resume()
	}, { signal })
	const keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS
	void host.then((chosen) => {
		onEvent?.({ type: 'connected', host: chosen })
		if (chosen === 'service-worker' && keepAliveMs !== false && !signal.aborted) keepAlive(session.ping, keepAliveMs, signal)
	})
	const client: TokenClient = {
		fetch: authorizedFetch(sender, options.isUnauthorized),
		get state() {
			return session.state
		},
		login: session.login,
		exchange: session.exchange,
		signIn: (options) => signInFlow().then((flow) => flow.signIn(session, options)),
		completeSignIn: (url) => signInFlow().then((flow) => flow.completeSignIn(session, url)),
		logout: session.logout,
		getAccessToken: session.getAccessToken,
		refresh: session.refresh,
		subscribe: session.subscribe,
		close() {
			closed.abort()
			session.close()
		},
	}
	registerSender(client, sender)
	return client
}
