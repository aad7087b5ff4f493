import type { AxiosInstance } from 'axios'
import { attachInterceptors } from './adapters/axios.js'
import type { RefreshFunction } from './core/refresh-function.js'
import type { ExchangeRequest, LogoutReason, TokenSet } from './core/protocol.js'
import { DEFAULT_KEEP_ALIVE_MS, keepAlive } from './transports/keep-alive.js'
import { type ServiceWorkerOption, selectConnection } from './transports/select.js'
import { DEFAULT_TIMEOUT_MS, type TabEvent, TabSession, type TokenEvent } from './session/tab-session.js'
import type { BrokerEvent } from './core/broker-core.js'
import { reporter } from './core/report.js'

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
	/** Telemetry: which host was chosen, refresh waits with duration and outcome, session ends; the broker's own events too in the in-page host. */
	onEvent?: (event: TokenClientEvent) => void
	/** Logs the same events with console.debug. */
	debug?: boolean
}

export type TokenClientEvent = TabEvent | BrokerEvent

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
	const onEvent = reporter(options.onEvent, options.debug, 'page')
	const { connection, host } = selectConnection({ serviceWorker: options.serviceWorker, fallback: options.fallback, timeoutMs, onEvent })
	const session = new TabSession(connection, {
		timeoutMs,
		onEvent,
		onLogout: options.onLogout ?? (() => globalThis.location.assign(loginUrl)),
		...(options.refreshAheadMs === undefined ? {} : { refreshAheadMs: options.refreshAheadMs }),
	})
	const detachers = new Set<() => void>()
	const onOnline = () => session.resume()
	globalThis.addEventListener?.('online', onOnline)
	detachers.add(() => globalThis.removeEventListener?.('online', onOnline))
	let closed = false
	const keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS
	void host.then((chosen) => {
		onEvent?.({ type: 'connected', host: chosen })
		if (chosen === 'service-worker' && keepAliveMs !== false && !closed) detachers.add(keepAlive(() => session.ping(), keepAliveMs))
	})
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
