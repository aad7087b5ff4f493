import type { BrokerConnection } from './connection.js'
import type { BrokerEvent } from '../core/broker-core.js'
import { NoServiceWorkerError } from '../core/errors/no-service-worker-error.js'
import { RefreshUnavailableError } from '../core/errors/refresh-unavailable-error.js'
import type { ReadTokens } from '../core/exchange.js'
import type { RefreshFunction } from '../core/refresh-function.js'
import { connectServiceWorker } from './service-worker.js'
import { brokerTimeLimit } from '../core/time-limit.js'

/** A workbox-window Workbox, recognised by shape so workbox-window stays optional. */
export interface WorkboxLike {
	getSW(): Promise<unknown>
}

export type ServiceWorkerOption = ServiceWorkerRegistration | Promise<ServiceWorkerRegistration> | WorkboxLike

/** The in-page broker, for pages where no service worker can be used. */
export interface Fallback {
	refresh: RefreshFunction
	readTokens?: ReadTokens
}

export type BrokerHost = 'service-worker' | 'in-page' | 'none'

export interface SelectedConnection {
	connection: BrokerConnection
	/** Which host was chosen, once it is known. */
	host: Promise<BrokerHost>
}

export interface SelectOptions {
	serviceWorker: ServiceWorkerOption | undefined
	fallback: Fallback | false | undefined
	onEvent: ((event: BrokerEvent) => void) | undefined
}

function isWorkbox(value: ServiceWorkerOption): value is WorkboxLike {
	return typeof value === 'object' && value !== null && typeof (value as Partial<WorkboxLike>).getSW === 'function'
}

/** How long a page looks for its service worker's registration before deciding there is none (vite dev, no register()). */
const FIND_REGISTRATION_MS = 1_000
const POLL_MS = 100

/**
 * The registration the app hands in, or the one of the page's scope, whichever is known first:
 * `register()` queues behind every other tab's update check for the scope, so with many tabs
 * opening at once (a restored browser session) it can take seconds, while getRegistration()
 * answers at once. A registration whose worker is installing or waiting counts: it will be active. Undefined when the app's register() failed and none is listed, or none
 * turns up within FIND_REGISTRATION_MS. A Workbox is
 * not asked for its worker: after a hard reload `wb.active` never resolves.
 */
function findRegistration(container: ServiceWorkerContainer, option: ServiceWorkerOption | undefined): Promise<ServiceWorkerRegistration | undefined> {
	return new Promise((resolve) => {
		let found = false
		const finish = (registration: ServiceWorkerRegistration | undefined) => {
			if (found) return
			found = true
			clearTimeout(deadline)
			resolve(registration)
		}
		const deadline = setTimeout(() => finish(undefined), FIND_REGISTRATION_MS)
		const poll = (again: boolean) => {
			container.getRegistration().then(
				(listed) => {
					// A registration without a worker is one whose first script is still loading, or failed to.
					const registration = listed?.installing ?? listed?.waiting ?? listed?.active ? listed : undefined
					if (registration !== undefined || !again) finish(registration)
					else if (!found) setTimeout(() => poll(true), POLL_MS)
				},
				() => undefined,
			)
		}
		// A register() that failed (no worker script, as under vite dev) leaves none to wait for.
		if (option !== undefined && !isWorkbox(option)) Promise.resolve(option).then(finish, () => poll(false))
		poll(true)
	})
}

function unavailable(error: () => Error): BrokerConnection {
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
export function selectConnection({ serviceWorker, fallback, onEvent }: SelectOptions): SelectedConnection {
	const container = globalThis.navigator?.serviceWorker
	// Loaded only when needed: most pages never run the broker core themselves.
	const inPage = fallback
		? () => import('./in-page.js').then(({ connectInPage }) => connectInPage({ ...fallback, ...(onEvent === undefined ? {} : { onEvent }) }))
		: undefined
	if (container === undefined) {
		if (globalThis.isSecureContext === false && !warnedInsecure) {
			warnedInsecure = true
			console.warn('sw-token-broker: this origin is not secure (plain http), so there is no service worker and no Web Locks: each tab refreshes on its own. Serve the app over https or from localhost.')
		}
		return inPage === undefined
			? { connection: unavailable(() => new RefreshUnavailableError('no service worker can be used here and no fallback.refresh was given to createTokenClient')), host: Promise.resolve('none') }
			: { connection: afterChoice(inPage()), host: Promise.resolve('in-page') }
	}
	const registration = findRegistration(container, serviceWorker)
	const host = registration.then((found): BrokerHost => found !== undefined ? 'service-worker' : inPage === undefined ? 'none' : 'in-page')
	return {
		connection: afterChoice(registration.then((found) => {
			if (found !== undefined) return connectServiceWorker(container, found)
			return inPage === undefined ? unavailable(() => new NoServiceWorkerError()) : inPage()
		})),
		host,
	}
}
