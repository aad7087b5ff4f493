import type { AxiosInstance } from 'axios'
import { attachInterceptors } from './axios-interceptors.js'
import type { RefreshFunction } from './core/presets.js'
import type { ExchangeRequest, LogoutReason, TokenSet } from './core/protocol.js'
import { DEFAULT_KEEP_ALIVE_MS, keepAlive } from './keep-alive.js'
import { type ServiceWorkerOption, selectConnection } from './select-connection.js'
import { DEFAULT_TIMEOUT_MS, TabSession, type TokenEvent } from './token-client.js'

export interface TokenClientOptions {
	/** How to reach the broker. Default: navigator.serviceWorker.ready. */
	serviceWorker?: ServiceWorkerOption
	/** Used when no service worker can be used. */
	fallback?: { refresh: RefreshFunction } | false
	/** Default '/login'. */
	loginUrl?: string
	/** Default: location.assign(loginUrl). */
	onLogout?: (reason: LogoutReason) => void
	/** Which requests get "Authorization: Bearer …". Default: same origin only. */
	authorize?: (url: URL) => boolean
	/** Refresh this long before expiry. Default 30 s, but at most a fifth of the token's lifetime. */
	refreshAheadMs?: number
	/** How long the page waits for the broker. Default 15 000 ms. */
	timeoutMs?: number
	/** Ping interval that keeps a memory-only worker alive while a tab is open; false turns it off. Default 20 000 ms. */
	keepAliveMs?: number | false
}

export interface TokenClient {
	attach(instance: AxiosInstance): () => void
	login(tokens: TokenSet): Promise<void>
	exchange(request: ExchangeRequest): Promise<void>
	logout(): Promise<void>
	getAccessToken(): Promise<string | null>
	refresh(): Promise<string>
	subscribe(listener: (event: TokenEvent) => void): () => void
	close(): void
}

export function createTokenClient(options: TokenClientOptions = {}): TokenClient {
	const loginUrl = options.loginUrl ?? '/login'
	const base = () => globalThis.location.href
	const authorize = options.authorize ?? ((url: URL) => url.origin === globalThis.location.origin)
	const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
	const { connection, viaWorker } = selectConnection(options.serviceWorker, options.fallback, timeoutMs)
	const session = new TabSession(connection, {
		timeoutMs,
		onLogout: options.onLogout ?? (() => globalThis.location.assign(loginUrl)),
		...(options.refreshAheadMs === undefined ? {} : { refreshAheadMs: options.refreshAheadMs }),
	})
	const detachers = new Set<() => void>()
	const onOnline = () => session.resume()
	globalThis.addEventListener?.('online', onOnline)
	detachers.add(() => globalThis.removeEventListener?.('online', onOnline))
	let closed = false
	const keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS
	if (keepAliveMs !== false) {
		void viaWorker.then((worker) => {
			if (worker && !closed) detachers.add(keepAlive(() => session.ping(), keepAliveMs))
		})
	}
	return {
		attach(instance) {
			const detach = attachInterceptors(instance, session, authorize, base)
			detachers.add(detach)
			return () => {
				detachers.delete(detach)
				detach()
			}
		},
		login: (tokens) => session.login(tokens),
		exchange: (request) => session.exchange(request),
		logout: () => session.logout(),
		getAccessToken: () => session.getAccessToken(),
		refresh: () => session.refresh(),
		subscribe: (listener) => session.subscribe(listener),
		close() {
			closed = true
			for (const detach of detachers) detach()
			detachers.clear()
			session.close()
		},
	}
}
