import { Handover, sameWorker } from '../src/core/handover.js'
import { RefreshUnavailableError } from '../src/core/errors/refresh-unavailable-error.js'
import { BrokerCore, type BrokerEvent, type SessionStore, maxIdleWaitMs } from '../src/core/broker-core.js'
import { DPoPKeys } from '../src/core/dpop/key-ring.js'
import { serializeError } from '../src/core/errors/serialize.js'
import { type ReadTokens, defaultExchangeUrls, exchangeWith } from '../src/core/exchange.js'
import type { RefreshFunction } from '../src/core/refresh-function.js'
import { parsePeerMessage, parseRequest } from '../src/core/parse-message.js'
import { type BrokerBroadcast, type BrokerReply, type SessionState, envelope } from '../src/core/protocol.js'
import { reporter } from '../src/core/report.js'
import { timeLimit } from '../src/core/time-limit.js'
import { openDPoPKeyStore } from '../src/storage/dpop-key-store.js'
import { openIndexedDbStore } from '../src/storage/indexeddb-store.js'
import { pendingSignInStore } from '../src/storage/pending-sign-ins.js'

/** Options of {@link createTokenBroker}. */
export interface TokenBrokerOptions {
	/** How to get a new token set: `oauth2Refresh`, `cookieRefresh`, or a `RefreshFunction` of your own. Required. */
	refresh: RefreshFunction
	/** 'memory' (default) keeps the refresh token out of every store page script can read; 'indexeddb' keeps the session across worker restarts, readable by same-origin script (docs/security.md). */
	persist?: 'memory' | 'indexeddb'
	/** Requests waiting on a refresh give up after this long with `RefreshUnavailableError`; the call itself runs on to three times this; an exchange is aborted after it. Default 10 000 ms. */
	refreshTimeoutMs?: number
	/** Which URLs exchange() may call. Default: the worker's origin and the refresh preset's token endpoint. */
	exchangeUrls?: (url: URL) => boolean
	/**
	 * false: a tab's login(tokens) is refused with LoginFailedError. For apps that sign in only with
	 * exchange() or signIn(): login() takes any token set from any same-origin script. Default true.
	 */
	acceptLogin?: boolean
	/** Reads an exchange() answer that is not OAuth-shaped (access_token / accessToken …) into a TokenSet. Default: OAuth-shaped. */
	readTokens?: ReadTokens
	/** Telemetry, see docs/troubleshooting.md#observability: refresh start/end with duration and outcome, logins, logouts with reasons, recoveries. Default: none. */
	onEvent?: (event: BrokerEvent) => void
	/** Logs the same events with console.debug. Default `false`. */
	debug?: boolean
	/**
	 * Sender-constrained tokens (RFC 9449, docs/dpop.md): a non-extractable key per session, kept in
	 * IndexedDB; every token-endpoint request carries a proof, and the tabs send `Authorization: DPoP`.
	 */
	dpop?: boolean
}

interface Port {
	postMessage(message: unknown, transfer?: Transferable[]): void
}

/** A worker of this registration: the predecessor or successor in a version hand-over. */
export interface PeerWorker extends Port {
	readonly scriptURL: string
	readonly state: string
}

/** The parts of a message event the host uses; ExtendableMessageEvent has them all. */
export interface BrokerMessageEvent {
	readonly data: unknown
	readonly origin: string
	readonly source: unknown
	readonly ports: ReadonlyArray<MessagePort>
	/** Keeps the worker alive until the promise settles. */
	waitUntil(promise: Promise<unknown>): void
}

export interface BrokerInstallEvent {
	waitUntil(promise: Promise<unknown>): void
}

/** The parts of ServiceWorkerGlobalScope the host uses. */
export interface BrokerScope {
	readonly location: { readonly origin: string }
	readonly registration: { readonly active: PeerWorker | null; readonly waiting: PeerWorker | null; readonly installing: PeerWorker | null }
	readonly clients: {
		/** Every window of the origin, controlled or not, so hard-reloaded tabs get broadcasts too. */
		matchAll(options: { type: 'window'; includeUncontrolled: true }): Promise<ReadonlyArray<Port>>
	}
	/** The broker answers the pages' messages. */
	addEventListener(type: 'message', listener: (event: BrokerMessageEvent) => void): void
	/** A new version takes the session over from the previous one at install. */
	addEventListener(type: 'install', listener: (event: BrokerInstallEvent) => void): void
	/** Undoes `listen`. */
	removeEventListener(type: 'message', listener: (event: BrokerMessageEvent) => void): void
	/** Undoes `listen`. */
	removeEventListener(type: 'install', listener: (event: BrokerInstallEvent) => void): void
}

/** The worker's broker, from {@link createTokenBroker}. */
export interface TokenBroker {
	/** Installs the message and install handlers on the worker scope; returns a function that removes them. */
	listen(scope: BrokerScope): () => void
}

/** How long a new version waits for its predecessor's session beyond what the predecessor may be finishing (maxIdleWaitMs). */
const HANDOVER_SLACK_MS = 2_000
/** How often a new version asks again for its predecessor's session (see requestSession). */
const SESSION_REQUEST_RESEND_MS = 250
/** How long a restarted worker holds requests while the open tabs seed it. */
const SEED_WAIT_MS = 500

function isWindowClient(source: unknown): boolean {
	return typeof source === 'object' && source !== null && (source as { type?: unknown }).type === 'window'
}

/** Creates the broker that holds the tokens in the service worker; call `listen(self)` at the top level of the worker script. */
export function createTokenBroker(options: TokenBrokerOptions): TokenBroker {
	return {
		listen(scope) {
			const origin = scope.location.origin
			let broadcasting: Promise<unknown> = Promise.resolve()
			// includeUncontrolled reaches tabs opened with a hard reload, which this worker does not control.
			const windows = () => scope.clients.matchAll({ type: 'window', includeUncontrolled: true })
			const broadcast = (message: BrokerBroadcast) => {
				broadcasting = windows()
					.then((clients) => {
						for (const client of clients) client.postMessage(envelope(message))
					})
					.catch(() => undefined)
			}
			const store: SessionStore | undefined = options.persist === 'indexeddb' ? openIndexedDbStore() : undefined
			const onEvent = reporter(options.onEvent, options.debug, 'worker')
			const startCore = () =>
				new BrokerCore({
					refresh: options.refresh,
					exchange: exchangeWith(options.readTokens),
					exchangeUrls: options.exchangeUrls ?? defaultExchangeUrls(origin, options.refresh.tokenEndpoint),
					acceptLogin: options.acceptLogin,
					origin,
					broadcast,
					isOnline: () => globalThis.navigator?.onLine ?? true,
					refreshTimeoutMs: options.refreshTimeoutMs,
					store,
					pendingSignIns: pendingSignInStore(),
					onEvent,
					...(options.dpop === true ? { dpop: new DPoPKeys(openDPoPKeyStore()) } : {}),
				})
			let core = startCore()
			const handoverTimeoutMs = maxIdleWaitMs(options.refreshTimeoutMs) + HANDOVER_SLACK_MS
			/**
			 * A worker restarted in memory mode has no session; tabs still holding an access token
			 * seed it. Requests wait briefly for the first seed, so a tab opened now is not sent to login.
			 * Asked at the first request, not when the script starts: a new version's script runs before
			 * its install, and a tab that Firefox tells of the worker that early gets a ServiceWorker
			 * object stuck in 'redundant' that drops every message, for the rest of the page's life.
			 */
			let seeded: () => void = () => undefined
			let warmUp: Promise<void> | undefined
			const warmedUp = () =>
				(warmUp ??=
					store !== undefined
						? Promise.resolve()
						: windows()
								.then((clients) => {
									if (clients.length === 0) return
									for (const client of clients) client.postMessage(envelope({ type: 'seed-request' }))
									return new Promise<void>((resolve) => {
										seeded = resolve
										setTimeout(resolve, SEED_WAIT_MS)
									})
								})
								.catch(() => undefined))
			const handover = new Handover<PeerWorker>({
				settle: async () => {
					// A request may start a refresh while an earlier one finishes: wait until none runs.
					do await core.idle()
					while (core.busy)
					return core.exportState()
				},
				ask: (successor) => requestSession(successor, handoverTimeoutMs),
				drop: () => {
					core = startCore()
					warmUp = undefined
				},
			})

			/**
			 * A peer receives the whole session, refresh token included, so it must be one of this
			 * registration's workers right now. A window is never a ServiceWorker, and a worker can only
			 * reach workers of its own registration (self.registration, or a message's source). Known by
			 * the registration's own object: Firefox gives a message's source as another object, whose
			 * state this worker would not see change.
			 */
			const peerOf = (source: unknown): PeerWorker | undefined => {
				const worker = source as Partial<PeerWorker> | null
				if (isWindowClient(source) || typeof worker?.scriptURL !== 'string' || typeof worker.state !== 'string') return undefined
				const { active, waiting, installing } = scope.registration
				return [installing, waiting, active].find((peer): peer is PeerWorker => peer !== null && sameWorker(peer, worker as PeerWorker))
			}

			const answer = (event: BrokerMessageEvent, from?: PeerWorker) => {
				const parsed = parseRequest(event.data)
				if (parsed.kind === 'ignore') return
				const port = event.ports[0]
				const reply = (message: BrokerReply) => port?.postMessage(envelope(message))
				if (parsed.kind === 'invalid') {
					reply({ type: 'reply', ok: false, error: serializeError(parsed.error) })
					return
				}
				const request = parsed.message
				// Only a validated request is passed on, never the message itself: the successor takes
				// what this worker relays for a peer's, and must never be sent a peer message by a window.
				const successor = handover.successor
				if (successor !== undefined) {
					if (from !== undefined && sameWorker(from, successor)) {
						// The successor passed it here after handing its session to this worker for a newer
						// version: the answer that names that version is still on its way. Sending it back would
						// loop, and this worker's copy is frozen.
						reply({ type: 'reply', ok: false, error: serializeError(new RefreshUnavailableError('a new service-worker version is taking over the session; try again')) })
						return
					}
					successor.postMessage(envelope(request), [...event.ports])
					return
				}
				const handled = request.type === 'seed' ? core.handle(request).finally(() => seeded()) : warmedUp().then(() => core.handle(request))
				// waitUntil keeps the worker alive until the reply is sent and the core is idle: a refresh
				// (or server logout) outlives the waiters that gave up on it, and its broadcast must go out.
				event.waitUntil(
					handled
						.then(
							(snapshot) => reply({ type: 'reply', ok: true, snapshot }),
							(error: unknown) => reply({ type: 'reply', ok: false, error: serializeError(error) }),
						)
						.then(() => core.idle())
						.then(() => broadcasting),
				)
			}

			/** A worker of the registration asks for the session: a new version at its install, or a predecessor passing a newer one's request on. */
			const giveSession = (event: BrokerMessageEvent, to: PeerWorker) => {
				const port = event.ports[0]
				if (port === undefined) return
				event.waitUntil(
					handover.sessionFor(to).then((state) => {
						if (state !== undefined) port.postMessage(envelope({ type: 'session', state }))
					}),
				)
			}

			const onMessage = (event: BrokerMessageEvent) => {
				if (event.origin !== origin) return
				const from = peerOf(event.source)
				if (from !== undefined) {
					const peer = parsePeerMessage(event.data)
					if (peer.kind === 'ok' && peer.message.type === 'session-request') giveSession(event, from)
					else answer(event, from)
					return
				}
				if (isWindowClient(event.source)) answer(event)
			}

			/** The successor's side: ask the active version for its session before taking over. */
			const onInstall = (event: BrokerInstallEvent) => {
				const previous = scope.registration.active
				if (previous === null) return
				event.waitUntil(
					requestSession(previous, handoverTimeoutMs).then((state) => {
						// A version that got its predecessor's session needs no seed.
						if (state !== undefined && core.importState(state)) warmUp = Promise.resolve()
					}),
				)
			}

			scope.addEventListener('message', onMessage)
			scope.addEventListener('install', onInstall)
			return () => {
				scope.removeEventListener('message', onMessage)
				scope.removeEventListener('install', onInstall)
			}
		},
	}
}

/**
 * Asks again every SESSION_REQUEST_RESEND_MS: the old version knows a peer by its registration's
 * `installing`, which the browser updates by a task of its own that may run after our message
 * arrives, and then the request is ignored. Settles within timeoutMs: an old version that does
 * not speak the protocol simply yields nothing.
 */
function requestSession(worker: PeerWorker, timeoutMs: number): Promise<SessionState | undefined> {
	const channels: MessageChannel[] = []
	let resend: ReturnType<typeof setTimeout> | undefined
	const state = new Promise<SessionState | undefined>((resolve) => {
		const ask = () => {
			const channel = new MessageChannel()
			channels.push(channel)
			channel.port1.onmessage = (event: MessageEvent) => {
				const parsed = parsePeerMessage(event.data)
				resolve(parsed.kind === 'ok' && parsed.message.type === 'session' ? parsed.message.state : undefined)
			}
			worker.postMessage(envelope({ type: 'session-request' }), [channel.port2])
			resend = setTimeout(ask, SESSION_REQUEST_RESEND_MS)
		}
		ask()
	})
	return timeLimit(state, timeoutMs, () => undefined)
		.catch(() => undefined)
		.finally(() => {
			clearTimeout(resend)
			for (const channel of channels) channel.port1.close()
		})
}
