import type { BrokerConnection } from './connection.js'
import type { BrokerEvent } from '../core/broker-core.js'
import { NoServiceWorkerError } from '../core/errors/no-service-worker-error.js'
import { RefreshUnavailableError } from '../core/errors/refresh-unavailable-error.js'
import type { ReadTokens } from '../core/exchange.js'
import type { RefreshFunction } from '../core/refresh-function.js'
import { connectServiceWorker } from './service-worker.js'
import { brokerTimeLimit } from '../core/time-limit.js'

// Replaced by the app's bundler; the long text below is development builds' only.
declare const process: { readonly env: { readonly NODE_ENV?: string } }

/** A workbox-window Workbox, recognised by shape so workbox-window stays optional. */
export interface WorkboxLike {
	/** Resolves to the worker this Workbox registered. */
	getSW(): Promise<unknown>
}

/** How `createTokenClient` reaches the broker's worker. */
export type ServiceWorkerOption = ServiceWorkerRegistration | Promise<ServiceWorkerRegistration> | WorkboxLike

/** The in-page broker, for pages where no service worker can be used. */
export interface Fallback {
	/** The refresh the in-page broker runs, as the worker's `refresh`. */
	refresh: RefreshFunction
	/** Reads an `exchange()` answer of another shape than OAuth's. Default: OAuth-shaped. */
	readTokens?: ReadTokens
}

/** Where the broker runs for this tab; `none`: no worker and no fallback. */
export type BrokerHost = 'service-worker' | 'in-page' | 'none'

export interface SelectedConnection {
	connection: BrokerConnection
	/** Which host was chosen, once it is known. */
	host: Promise<BrokerHost>
}

export interface SelectOptions {
	serviceWorker?: ServiceWorkerOption | undefined
	fallback?: Fallback | false | undefined
	onEvent: ((event: BrokerEvent) => void) | undefined
}

function isWorkbox(value: ServiceWorkerOption): value is WorkboxLike {
	return typeof (value as Partial<WorkboxLike>).getSW === 'function'
}

/** How long a page with no register() of its own in flight looks for a registration before deciding there is none (vite dev). */
const FIND_REGISTRATION_MS = 1_000
/** How long a register() the app handed in may take: a first install on a loaded machine takes seconds. */
const REGISTER_MS = 15_000
const POLL_MS = 100

/**
 * The registration the app hands in, or the one of the page's scope, whichever is known first:
 * `register()` queues behind every other tab's update check for the scope, so with many tabs
 * opening at once (a restored browser session) it can take seconds, while getRegistration()
 * answers at once. A registration whose worker is installing or waiting counts: it will be
 * active. While the app's register() is in flight the page waits for it, so a slow first install
 * never sends some tabs to the in-page broker and others to the worker; when it fails (no worker
 * script, as under vite dev), or when there is none to wait for and no registration turns up
 * within FIND_REGISTRATION_MS, there is no worker. A Workbox is not asked for its worker: after a
 * hard reload `wb.active` never resolves.
 */
function findRegistration(container: ServiceWorkerContainer, option: ServiceWorkerOption | undefined): Promise<ServiceWorkerRegistration | undefined> {
	const registering = option !== undefined && !isWorkbox(option)
	return new Promise((resolve) => {
		let found = false
		// The first answer wins: a later resolve() does nothing.
		const finish = (registration?: ServiceWorkerRegistration) => {
			found = true
			clearTimeout(deadline)
			resolve(registration)
		}
		const deadline = setTimeout(finish, registering ? REGISTER_MS : FIND_REGISTRATION_MS)
		const poll = (again: boolean) => {
			container.getRegistration().then(
				(listed) => {
					// A registration without a worker is one whose first script is still loading, or failed to.
					const registration = (listed?.installing ?? listed?.waiting ?? listed?.active) ? listed : undefined
					if (registration !== undefined || !again) finish(registration)
					else if (!found) setTimeout(poll, POLL_MS, true)
				},
				() => undefined,
			)
		}
		if (registering) Promise.resolve(option).then(finish, () => poll(false))
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
			return brokerTimeLimit(
				chosen.then((connection) => connection.request(message, Math.max(1, timeoutMs - (Date.now() - started)))),
				timeoutMs,
				message.type,
			)
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
 * The page's controller, or the service worker of the registration findRegistration() finds;
 * otherwise, when a fallback is given, the same broker core in the page; otherwise requests fail
 * with a typed error.
 */
export function selectConnection({ serviceWorker, fallback, onEvent }: SelectOptions): SelectedConnection {
	const container = globalThis.navigator?.serviceWorker
	if (container === undefined && globalThis.isSecureContext === false && !warnedInsecure) {
		warnedInsecure = true
		console.warn(
			process.env.NODE_ENV !== 'production'
				? 'sw-token-broker: this origin is not secure (plain http): no service worker or Web Locks, so each tab refreshes on its own. Use https or localhost.'
				: 'sw-token-broker: this origin is not secure, so each tab refreshes on its own; see docs/lifetimes-and-engines.md',
		)
	}
	// A controlled page has its worker at hand; finding its registration is a call to the browser,
	// which a restored session, many tabs loading at once, keeps waiting for tens of milliseconds.
	const controller = container?.controller
	const registration: Promise<ServiceWorkerRegistration | ServiceWorker | undefined> =
		controller && controller.state !== 'redundant' ? Promise.resolve(controller) : container === undefined ? Promise.resolve(undefined) : findRegistration(container, serviceWorker)
	return {
		connection: afterChoice(
			registration.then((found) => {
				if (found !== undefined) return connectServiceWorker(container, found)
				// Loaded only when needed: most pages never run the broker core themselves.
				if (fallback) return import('./in-page.js').then(({ connectInPage }) => connectInPage({ ...fallback, onEvent }))
				return unavailable(() => (container === undefined ? new RefreshUnavailableError('no service worker here, and createTokenClient has no fallback: { refresh }') : new NoServiceWorkerError()))
			}),
		),
		host: registration.then((found) => (found !== undefined ? 'service-worker' : fallback ? 'in-page' : 'none')),
	}
}
