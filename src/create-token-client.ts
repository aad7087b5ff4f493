import { type IsUnauthorized, authorizedFetch } from './adapters/fetch.js'
import type { BrokerEvent } from './core/broker-core.js'
import type { ExchangeRequest, LogoutReason, SignInOptions, TokenSet } from './core/protocol.js'
import { reporter } from './core/report.js'
import { checkDuration } from './core/check-duration.js'
import { authorizedSender, registerSender } from './session/authorized-send.js'
import { type ClientState, type TabEvent, type TabSession, type TokenEvent, tabSession } from './session/tab-session.js'
import { DEFAULT_KEEP_ALIVE_MS, keepAlive } from './transports/keep-alive.js'
import { type BrokerHost, type Fallback, type ServiceWorkerOption, selectConnection } from './transports/select.js'

/** Options of {@link createTokenClient}; every one is optional. */
export interface TokenClientOptions {
	/**
	 * How to reach the broker: a `ServiceWorkerRegistration`, a promise of one, or a workbox-window `Workbox`.
	 * The client also asks `getRegistration()`, so a page whose scope already has a worker talks to it at once.
	 * While a `register()` promise handed in is in flight it waits for it; with none in flight and no
	 * registration within 1 s, or a `register()` that failed, it uses `fallback`.
	 * Default: the service worker registered for this page, if any.
	 */
	serviceWorker?: ServiceWorkerOption
	/** Runs the broker in the page when no service worker can be used (private modes, vite dev); `false` or absent: none, and `login()`, `exchange()`, `refresh()` reject with `NoServiceWorkerError`. Default: none. */
	fallback?: Fallback | false
	/** Where the default `onLogout` goes. Default `'/login'`. */
	loginUrl?: string
	/**
	 * Called in every tab that had a session, with the reason, once that tab's authorized requests in flight
	 * have settled (1 s at most); not at all if a new login arrived meanwhile. Default: `location.assign(loginUrl)`.
	 */
	onLogout?: (reason: LogoutReason) => void
	/** Which requests get "Authorization: Bearer …". Default: same origin only. */
	authorize?: (url: URL) => boolean
	/** Refresh this long before expiry. Default 30 s, but at most a fifth of the token's lifetime; one given here at most half. */
	refreshAheadMs?: number
	/** How long the page waits for the broker. Default 15 000 ms. */
	timeoutMs?: number
	/** Ping interval that keeps a memory-only worker alive while a tab is open; false turns it off. Default 20 000 ms. */
	keepAliveMs?: number | false
	/** Telemetry, see docs/troubleshooting.md#observability: which host was chosen, refresh waits with duration and outcome, session ends; the broker's own events too in the in-page host. */
	onEvent?: (event: TokenClientEvent) => void
	/** Logs the same events with console.debug. Default `false`. */
	debug?: boolean
	/** For APIs that report an expired token inside a 200 (GraphQL's UNAUTHENTICATED): client.fetch treats an answer this says true for as a 401. Gets a clone of the response. */
	isUnauthorized?: IsUnauthorized
}

/** What `onEvent` receives: the tab's own events, and where the broker runs in the page, the broker's. Switch on `type`: more may come. */
export type TokenClientEvent = TabEvent | BrokerEvent

/** A tab's handle on the shared session, from {@link createTokenClient}. */
export interface TokenClient {
	/** A fetch with the broker's token: authorize, refresh ahead of expiry, 401 → one refresh for all tabs → one retry. */
	fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>
	/** Auth state for UIs: the same object until it changes. */
	readonly state: ClientState
	/** Hands a token set to the broker; every tab receives the access token. */
	login(tokens: TokenSet): Promise<void>
	/**
	 * The broker POSTs the form (`body`) or JSON (`json`) itself and keeps the tokens, so the refresh token never enters the page.
	 * Rejects with `LoginFailedError` (with `status`) when refused, when the answer has no access token, or when the URL is not in the broker's `exchangeUrls`.
	 */
	exchange(request: ExchangeRequest): Promise<void>
	/** The broker (openIdProvider) makes the authorization URL with PKCE, state and nonce; this tab navigates there. */
	signIn(options?: SignInOptions): Promise<void>
	/** On the redirect URI's page (default: location.href): every tab is signed in. The query is the page's to clean. */
	completeSignIn(url?: string): Promise<{ returnTo?: string }>
	/**
	 * Logs every tab out: reason `'user'` here, `'remote'` in the others. Ends this tab's session at
	 * once, and rejects with `BrokerTimeoutError` when the broker could not be told. `endSession`:
	 * then this tab goes to the provider's end-session endpoint (RP-initiated logout).
	 */
	logout(options?: { endSession?: boolean }): Promise<void>
	/** The current access token, refreshed first if it is about to expire; `null` without a session. */
	getAccessToken(): Promise<string | null>
	/** A forced refresh, still one for all tabs; resolves to the new access token. Rejects with `LoggedOutError` or `RefreshUnavailableError`. */
	refresh(): Promise<string>
	/** Listens for `token`, `logout` and `state` events (what `useSyncExternalStore` needs); returns the unsubscribe. */
	subscribe(listener: (event: TokenEvent) => void): () => void
	/** Detaches every listener and the keep-alive, and stops listening to the broker. */
	close(): void
}

/** Loaded on first use: an app that never signs in this way ships none of it eagerly. */
const signInFlow = () => import('./session/sign-in.js')

/** Creates the tab's client of the broker: the service worker's where one is registered, else the in-page `fallback`. */
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
	globalThis.document?.addEventListener(
		'visibilitychange',
		() => {
			if (globalThis.document.visibilityState === 'visible') session.resume()
		},
		{ signal },
	)
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
