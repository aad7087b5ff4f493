import type { BrokerConnection } from './connection.js'
import { BrokerCore, type BrokerEvent } from '../core/broker-core.js'
import { RefreshRejectedError } from '../core/errors/refresh-rejected-error.js'
import { RefreshUnavailableError } from '../core/errors/refresh-unavailable-error.js'
import { type ReadTokens, defaultExchangeUrls, exchangeWith } from '../core/exchange.js'
import type { RefreshFunction } from '../core/refresh-function.js'
import { parsePeerMessage } from '../core/parse-message.js'
import { type BrokerBroadcast, type BrokerRequest, type PeerMessage, type TokenSnapshot, envelope } from '../core/protocol.js'
import { holdTokens } from '../core/tokens.js'
import { indexedDbMarker } from '../storage/refresh-marker.js'
import { sessionStorageStore } from '../storage/session-storage.js'
import { pendingSignInStore } from '../storage/pending-sign-ins.js'
import { brokerTimeLimit } from '../core/time-limit.js'

const CHANNEL = 'sw-token-broker'
const REFRESH_LOCK = 'sw-token-broker:refresh'
/** How long a new tab asks the others for their session before it starts without one. */
const SESSION_REQUEST_MS = 300
/** How long a tab that got the refresh lock waits for the session the previous holder sent. */
const PEER_WAIT_MS = 2_000

export interface InPageOptions {
	refresh: RefreshFunction
	readTokens?: ReadTokens | undefined
	refreshTimeoutMs?: number
	onEvent?: (event: BrokerEvent) => void
}

/**
 * The fallback host: the same broker core, run in this tab. Tabs share their session over a
 * BroadcastChannel and take a Web Lock around the refresh, so the whole origin still refreshes
 * once. The refresh token lives in page memory here, which docs/security.md states.
 */
export function connectInPage(options: InPageOptions): BrokerConnection {
	const channel = new BroadcastChannel(CHANNEL)
	const locks = globalThis.navigator?.locks
	const marker = indexedDbMarker()
	const listeners = new Set<(message: BrokerBroadcast) => void>()
	const deliver = (message: BrokerBroadcast) => {
		for (const listener of listeners) listener(message)
	}
	const post = (message: PeerMessage) => channel.postMessage(envelope(message))
	/** Resolved whenever a session from another tab is adopted. */
	const waiters = new Set<() => void>()
	const adopted = (timeoutMs: number) =>
		new Promise<void>((resolve) => {
			const wake = () => {
				waiters.delete(wake)
				resolve()
			}
			waiters.add(wake)
			setTimeout(wake, timeoutMs)
		})

	const lockedRefresh: RefreshFunction = (context) => {
		if (locks === undefined) return options.refresh(context)
		const startedAt = core.exportState().generation
		return locks.request(REFRESH_LOCK, { signal: context.signal }, async () => {
			// The previous holder changed the session: its new tokens are on the channel. Refreshing
			// with the refresh token this tab still holds would present a rotated one (reuse).
			// It may also have been sent while this tab was frozen: ask the open tabs too. If none
			// answers, it left with its tab, and the server decides on the token this tab has.
			if ((await marker.read()) > startedAt && core.exportState().generation === startedAt) {
				post({ type: 'session-request' })
				await adopted(PEER_WAIT_MS)
			}
			const { tokens, generation: current } = core.exportState()
			// Superseded by another tab: the core adopts that tab's state and ignores this answer.
			if (current !== startedAt) return tokens ?? Promise.reject(new RefreshUnavailableError('another tab ended the session'))
			try {
				const fresh = await options.refresh(context)
				const generation = Math.max(startedAt + 1, Date.now())
				post({ type: 'session', state: { tokens: holdTokens(fresh, Date.now(), context.refreshToken, tokens), generation, ended: null } })
				// Committed before the lock passes on, so the next holder knows to wait for that session.
				await marker.write(generation)
				return fresh
			} catch (error) {
				if (error instanceof RefreshRejectedError) await marker.write(Math.max(startedAt + 1, Date.now()))
				throw error
			}
		})
	}

	// Without it a user logout here never ended the session at the server. Not under the lock:
	// it must start at once, before onLogout navigates away (the broadcast below runs it).
	if (options.refresh.logout !== undefined) lockedRefresh.logout = options.refresh.logout
	// Sign-in runs in this tab's core as in the worker's (openIdProvider).
	if (options.refresh.signIn !== undefined) lockedRefresh.signIn = options.refresh.signIn

	const core: BrokerCore = new BrokerCore({
		refresh: lockedRefresh,
		exchange: exchangeWith(options.readTokens),
		exchangeUrls: defaultExchangeUrls(globalThis.location.origin, options.refresh.tokenEndpoint),
		origin: globalThis.location.origin,
		isOnline: () => globalThis.navigator?.onLine ?? true,
		broadcast: (message) => {
			const state = core.exportState()
			post({ type: 'session', state, broadcast: message })
			deliver(message)
		},
		refreshTimeoutMs: options.refreshTimeoutMs,
		store: sessionStorageStore(),
		pendingSignIns: pendingSignInStore(),
		onEvent: options.onEvent,
	})

	channel.onmessage = (event: MessageEvent) => {
		const parsed = parsePeerMessage(event.data)
		if (parsed.kind !== 'ok') return
		const message = parsed.message
		if (message.type === 'session-request') {
			const state = core.exportState()
			if (state.tokens !== null) post({ type: 'session', state })
			return
		}
		if (!core.importState(message.state)) return
		if (message.broadcast !== undefined) deliver(message.broadcast)
		for (const wake of [...waiters]) wake()
	}

	/** A new tab starts from the session another tab holds, if any answers in time. */
	const ready = adopted(SESSION_REQUEST_MS)
	post({ type: 'session-request' })

	return {
		async request(message: BrokerRequest, timeoutMs: number): Promise<TokenSnapshot> {
			return brokerTimeLimit(
				ready.then(() => core.handle(message)),
				timeoutMs,
				message.type,
			)
		},
		onBroadcast(listener) {
			listeners.add(listener)
			return () => listeners.delete(listener)
		},
		close() {
			listeners.clear()
			channel.close()
		},
	}
}
