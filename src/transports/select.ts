import type { BrokerConnection } from './connection.js'
import type { BrokerEvent } from '../core/broker-core.js'
import { RefreshUnavailableError } from '../core/errors/refresh-unavailable-error.js'
import type { RefreshFunction } from '../core/refresh-function.js'
import { connectServiceWorker } from './service-worker.js'
import { brokerTimeLimit } from '../core/time-limit.js'

/** A workbox-window Workbox, recognised by shape so workbox-window stays optional. */
export interface WorkboxLike {
	getSW(): Promise<unknown>
}

export type ServiceWorkerOption = ServiceWorkerRegistration | Promise<ServiceWorkerRegistration> | WorkboxLike

export type BrokerHost = 'service-worker' | 'in-page' | 'none'

export interface SelectedConnection {
	connection: BrokerConnection
	/** Which host was chosen, once it is known. */
	host: Promise<BrokerHost>
}

export interface SelectOptions {
	serviceWorker: ServiceWorkerOption | undefined
	fallback: { refresh: RefreshFunction } | false | undefined
	timeoutMs: number
	onEvent: ((event: BrokerEvent) => void) | undefined
}

function isWorkbox(value: ServiceWorkerOption): value is WorkboxLike {
	return typeof value === 'object' && value !== null && typeof (value as Partial<WorkboxLike>).getSW === 'function'
}

/**
 * For a Workbox we still wait on `ready`, not `wb.active`: after a hard reload the page has no
 * controller and `wb.active` never resolves, while `ready` does. A registration the app hands in
 * races `ready` too: `register()` queues behind every other tab's update check for the scope, so
 * with many tabs opening at once (a restored browser session) it can take seconds, while `ready`
 * answers at once when a worker is already active. That worker is taken to be the broker's: the
 * one that controls the page's scope.
 */
function registrationOf(container: ServiceWorkerContainer, option: ServiceWorkerOption | undefined): Promise<ServiceWorkerRegistration> {
	if (option === undefined || isWorkbox(option)) return container.ready
	// A register() that fails while a worker already controls the page does not send it to the fallback.
	const given = Promise.resolve(option).catch((error: unknown) => container.controller === null ? Promise.reject(error) : container.ready)
	return Promise.race([given, container.ready])
}

function unavailable(): BrokerConnection {
	const error = () => new RefreshUnavailableError('no service worker can be used here and no fallback.refresh was given to createTokenClient')
	return { request: () => Promise.reject(error()), onBroadcast: () => () => undefined, close: () => undefined }
}

/** Waits for the choice; the whole request, choice included, still settles within timeoutMs. */
function afterChoice(chosen: Promise<BrokerConnection>): BrokerConnection {
	return {
		request(message, timeoutMs) {
			const started = Date.now()
			return brokerTimeLimit(chosen.then((connection) => connection.request(message, Math.max(1, timeoutMs - (Date.now() - started)))), timeoutMs, message.type)
		},
		onBroadcast(listener) {
			const off = chosen.then((connection) => connection.onBroadcast(listener))
			return () => void off.then((stop) => stop())
		},
		close: () => void chosen.then((connection) => connection.close()),
	}
}

let warnedInsecure = false

/**
 * The service worker when one becomes active within timeoutMs; otherwise, when a fallback
 * refresh is given, the same broker core in the page.
 */
export function selectConnection({ serviceWorker, fallback, timeoutMs, onEvent }: SelectOptions): SelectedConnection {
	const container = globalThis.navigator?.serviceWorker
	// Loaded only when needed: most pages never run the broker core themselves.
	const inPage = fallback
		? () => import('./in-page.js').then(({ connectInPage }) => connectInPage({ refresh: fallback.refresh, ...(onEvent === undefined ? {} : { onEvent }) }))
		: undefined
	if (container === undefined) {
		if (globalThis.isSecureContext === false && !warnedInsecure) {
			warnedInsecure = true
			console.warn('sw-token-broker: this origin is not secure (plain http), so there is no service worker and no Web Locks: each tab refreshes on its own. Serve the app over https or from localhost.')
		}
		return inPage === undefined
			? { connection: unavailable(), host: Promise.resolve('none') }
			: { connection: afterChoice(inPage()), host: Promise.resolve('in-page') }
	}
	const registration = registrationOf(container, serviceWorker)
	if (inPage === undefined) return { connection: connectServiceWorker(container, registration), host: Promise.resolve('service-worker') }
	const host = brokerTimeLimit(registration, timeoutMs, 'service worker registration').then((): BrokerHost => 'service-worker', (): BrokerHost => 'in-page')
	return { connection: afterChoice(host.then((chosen) => chosen === 'service-worker' ? connectServiceWorker(container, registration) : inPage())), host }
}
