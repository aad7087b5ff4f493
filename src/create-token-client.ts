import type { AxiosInstance } from 'axios'
import { attachInterceptors } from './axios-interceptors.js'
import type { BrokerConnection } from './broker-connection.js'
import type { RefreshFunction } from './core/presets.js'
import type { ExchangeRequest, LogoutReason, TokenSet } from './core/protocol.js'
import { connectServiceWorker } from './service-worker-connection.js'
import { TabSession, type TokenEvent } from './token-client.js'

/** A workbox-window Workbox, recognised by shape so workbox-window stays optional. */
export interface WorkboxLike {
	getSW(): Promise<unknown>
}

export interface TokenClientOptions {
	/** How to reach the broker. Default: navigator.serviceWorker.ready. */
	serviceWorker?: ServiceWorkerRegistration | Promise<ServiceWorkerRegistration> | WorkboxLike
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

function isWorkbox(value: TokenClientOptions['serviceWorker']): value is WorkboxLike {
	return typeof value === 'object' && value !== null && typeof (value as Partial<WorkboxLike>).getSW === 'function'
}

/**
 * For a Workbox we still wait on `ready`, not `wb.active`: after a hard reload the page has no
 * controller and `wb.active` never resolves, while `ready` does.
 */
function registrationOf(container: ServiceWorkerContainer, option: TokenClientOptions['serviceWorker']): Promise<ServiceWorkerRegistration> {
	if (option === undefined || isWorkbox(option)) return container.ready
	return Promise.resolve(option)
}

function connect(options: TokenClientOptions): BrokerConnection {
	const container = globalThis.navigator?.serviceWorker
	if (container === undefined) throw new Error('sw-token-broker: no service worker support in this context')
	return connectServiceWorker(container, registrationOf(container, options.serviceWorker))
}

export function createTokenClient(options: TokenClientOptions = {}): TokenClient {
	const loginUrl = options.loginUrl ?? '/login'
	const base = () => globalThis.location.href
	const authorize = options.authorize ?? ((url: URL) => url.origin === globalThis.location.origin)
	const session = new TabSession(connect(options), {
		onLogout: options.onLogout ?? (() => globalThis.location.assign(loginUrl)),
		...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
		...(options.refreshAheadMs === undefined ? {} : { refreshAheadMs: options.refreshAheadMs }),
	})
	const detachers = new Set<() => void>()
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
			for (const detach of detachers) detach()
			detachers.clear()
			session.close()
		},
	}
}
