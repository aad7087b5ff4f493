import type { BrokerConnection } from '../transports/connection.js'
import { LoggedOutError } from '../core/errors/logged-out-error.js'
import { type BrokerBroadcast, type BrokerRequest, type DPoPBinding, type ExchangeRequest, type LogoutReason, MAX_WAIT_MS, type TokenSet, type TokenSnapshot } from '../core/protocol.js'
import { type LogoutGate, logoutGate } from './logout-gate.js'

/** Auth state for UIs: a new object only when something in it changes, as useSyncExternalStore needs. */
export interface ClientState {
	readonly status: 'connecting' | 'signed-in' | 'signed-out'
	readonly expiresAt?: number
}

export type TokenEvent =
	| { type: 'token'; accessToken: string; expiresAt?: number }
	| { type: 'logout'; reason: LogoutReason }
	/** `client.state` changed; sent after the token or logout event that changed it, and alone when the first sync finds no session. */
	| { type: 'state'; state: ClientState }

/** What a tab reports for telemetry, besides the broker's own events in the in-page host. */
export type TabEvent =
	| { type: 'connected'; host: 'service-worker' | 'in-page' | 'none' }
	/** How long this tab waited for a fresh token, and how that ended ('ok' or the error's name). */
	| { type: 'refresh-wait'; outcome: string; durationMs: number }
	| { type: 'session-ended'; reason: LogoutReason }

export const DEFAULT_TIMEOUT_MS = 15_000
const DEFAULT_REFRESH_AHEAD_MS = 30_000
const CONNECTING: ClientState = { status: 'connecting' }
const SIGNED_OUT: ClientState = { status: 'signed-out' }

export interface SessionOptions {
	timeoutMs?: number
	refreshAheadMs?: number
	onLogout: (reason: LogoutReason) => void
	now?: () => number
	onEvent?: ((event: TabEvent) => void) | undefined
}

/**
 * A tab's view of the session: the current access token in memory, as last broadcast
 * by the broker, and the only path from this tab to the broker.
 */
export interface TabSession {
	/** The token to send now, without waiting: undefined when the caller must await tokenForRequest(). */
	freshToken(): string | null | undefined
	/** Waits for the first sync, and for a refresh when the token is about to expire. */
	tokenForRequest(signal?: AbortSignal): Promise<string | null>
	/**
	 * A request sent with `failedToken` was refused: the broker refreshes once, or returns a newer
	 * token it already has. `early`: nothing was refused, the token is only due for renewal.
	 */
	refreshAfter(failedToken: string | null, early?: boolean): Promise<TokenSnapshot>
	/**
	 * The keep-alive ping. If the broker lost the session this tab still holds (a stopped
	 * worker in memory mode), the tab seeds it back with its access token.
	 */
	ping(): Promise<void>
	/**
	 * Back online, or back in view: the broker's wait before its next attempt starts over, and a
	 * token that expired meanwhile is refreshed now, not on the next request's 401.
	 */
	resume(): void
	readonly accessToken: string | null
	/** The key the current token is bound to (DPoP), as the broker shared it; undefined for a bearer token. */
	readonly dpop: DPoPBinding | undefined
	readonly state: ClientState
	readonly gate: LogoutGate
	getAccessToken(): Promise<string | null>
	refresh(): Promise<string>
	login(tokens: TokenSet): Promise<void>
	exchange(request: ExchangeRequest): Promise<void>
	logout(): Promise<void>
	subscribe(listener: (event: TokenEvent) => void): () => void
	close(): void
}

export function tabSession(connection: BrokerConnection, options: SessionOptions): TabSession {
	const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
	const now = options.now ?? Date.now
	const tab = Math.random().toString(36).slice(2)
	const listeners = new Set<(event: TokenEvent) => void>()
	const gate = logoutGate()
	let snapshot: TokenSnapshot = { accessToken: null, generation: 0 }
	let state = CONNECTING
	/** Whether this tab saw a token since the last logout; onLogout runs only for tabs that had a session. */
	let hadSession = false
	/**
	 * Requests of this tab waiting on the same refresh share one message to the broker. `refused`:
	 * a request was refused with failedToken (the refresh is not an early or forced one).
	 */
	let pendingRefresh: { failedToken: string | null; refused: boolean; result: Promise<TokenSnapshot>; end: (error: LoggedOutError) => void } | null = null

	const send = (message: BrokerRequest) => connection.request(message, timeoutMs)

	const emit = (event: TokenEvent) => {
		for (const listener of listeners) {
			try {
				listener(event)
			} catch (error) {
				queueMicrotask(() => {
					throw error
				})
			}
		}
	}

	const setState = (next: ClientState) => {
		if (next === state) return
		state = next
		emit({ type: 'state', state })
	}

	/** Adopts a snapshot unless this tab already has a newer one (broadcasts and replies race). */
	const apply = (next: TokenSnapshot): TokenSnapshot => {
		const { accessToken, expiresAt, generation } = next
		// Equal generations with different tokens: a late copy of a state this tab already left (e.g. ended).
		if (generation < snapshot.generation || (generation === snapshot.generation && accessToken !== snapshot.accessToken)) return snapshot
		const changed = accessToken !== snapshot.accessToken
		snapshot = next
		if (accessToken === null) {
			setState(SIGNED_OUT)
			return next
		}
		if (changed) {
			if (!hadSession) gate.begin()
			hadSession = true
			emit(expiresAt === undefined ? { type: 'token', accessToken } : { type: 'token', accessToken, expiresAt })
		}
		if (state.status !== 'signed-in' || state.expiresAt !== expiresAt) setState(expiresAt === undefined ? { status: 'signed-in' } : { status: 'signed-in', expiresAt })
		return next
	}

	const endSession = (reason: LogoutReason, generation: number) => {
		if (generation < snapshot.generation) return
		snapshot = { accessToken: null, generation }
		// Queued requests settle before onLogout navigates away from the page they belong to.
		pendingRefresh?.end(new LoggedOutError(reason))
		if (!hadSession) {
			setState(SIGNED_OUT)
			return
		}
		hadSession = false
		options.onEvent?.({ type: 'session-ended', reason })
		emit({ type: 'logout', reason })
		setState(SIGNED_OUT)
		// A login while the requests settle begins a new session, which the gate does not send to the login page.
		gate.afterRequests(() => options.onLogout(reason))
	}

	const seed = async () => {
		const { accessToken } = snapshot
		if (accessToken !== null) apply(await send({ ...snapshot, type: 'seed', accessToken }))
	}

	/**
	 * A fifth of the token's lifetime by default, at most 30 s. One given explicitly is capped at half
	 * the lifetime, so no setting and no clock makes every request a refresh.
	 */
	const refreshAheadMs = () => {
		const { expiresAt, issuedAt } = snapshot
		const explicit = options.refreshAheadMs
		if (expiresAt === undefined || issuedAt === undefined) return explicit ?? DEFAULT_REFRESH_AHEAD_MS
		const lifetime = expiresAt - issuedAt
		return explicit === undefined ? Math.min(DEFAULT_REFRESH_AHEAD_MS, lifetime / 5) : Math.min(explicit, lifetime / 2)
	}

	const stopListening = connection.onBroadcast((message: BrokerBroadcast) => {
		if (message.type === 'token') apply(message.snapshot)
		else if (message.type === 'seed-request') seed().catch(() => undefined)
		else endSession(message.reason === 'user' && message.tab !== tab ? 'remote' : message.reason, message.generation)
	})

	let synced: Promise<unknown> | null = send({ type: 'hello' }).then(apply, () => undefined).finally(() => {
		synced = null
		if (state === CONNECTING) setState(SIGNED_OUT)
	})

	const session: TabSession = {
		freshToken() {
			if (synced !== null) return undefined
			const { accessToken, expiresAt } = snapshot
			// A token this tab saw refused would only be refused again: new requests wait for the refresh under way.
			if (accessToken && pendingRefresh?.refused && pendingRefresh.failedToken === accessToken) return undefined
			return accessToken === null || expiresAt === undefined || expiresAt - now() > refreshAheadMs() ? accessToken : undefined
		},

		async tokenForRequest(signal) {
			if (synced !== null) await abortable(synced, signal)
			const fresh = session.freshToken()
			if (fresh !== undefined) return fresh
			const { accessToken, expiresAt = 0 } = snapshot
			try {
				return (await abortable(session.refreshAfter(accessToken, true), signal)).accessToken
			} catch (error) {
				// A token that has not expired yet still works if the early refresh could not be done.
				if (error instanceof LoggedOutError || expiresAt <= now() || signal?.aborted) throw error
				return accessToken
			}
		},

		refreshAfter(failedToken, early) {
			if (pendingRefresh?.failedToken === failedToken) return pendingRefresh.result
			// This tab already holds a newer token (the refresh reached it as a broadcast): no message needed.
			if (failedToken !== null && snapshot.accessToken !== null && snapshot.accessToken !== failedToken) return Promise.resolve(snapshot)
			let end!: (error: LoggedOutError) => void
			// A logout broadcast can arrive before the broker's reply: it ends the wait at once.
			const ended = new Promise<never>((_, reject) => {
				end = reject
			})
			const started = now()
			const waited = (outcome: string) => options.onEvent?.({ type: 'refresh-wait', outcome, durationMs: now() - started })
			// The broker answers within our wait, a second early: a refusal (with its retryAt) then
			// reaches us instead of our own BrokerTimeoutError.
			const waitMs = Math.min(MAX_WAIT_MS, Math.max(0, timeoutMs - 1_000))
			const result = Promise.race([send({ type: 'refresh', failedToken, waitMs }), ended])
				.then((next) => {
					waited('ok')
					return apply(next)
				}, (error: unknown) => {
					waited(error instanceof Error ? error.name : 'Error')
					if (error instanceof LoggedOutError) endSession(error.reason, error.generation ?? snapshot.generation)
					throw error
				})
				.finally(() => {
					if (pendingRefresh?.result === result) pendingRefresh = null
				})
			pendingRefresh = { failedToken, refused: !early, result, end }
			return result
		},

		async ping() {
			const answer = await send({ type: 'ping' })
			if (answer.accessToken !== null || answer.generation >= snapshot.generation) apply(answer)
			else await seed()
		},

		resume() {
			if (synced !== null || snapshot.accessToken === null) return
			send({ type: 'resume' }).catch(() => undefined)
			if (session.freshToken() === undefined) session.refreshAfter(snapshot.accessToken, true).catch(() => undefined)
		},

		get accessToken() {
			return snapshot.accessToken
		},

		get dpop() {
			return snapshot.dpop
		},

		get state() {
			return state
		},

		gate,

		getAccessToken: () => session.tokenForRequest(),

		async refresh() {
			if (synced !== null) await synced
			const { accessToken } = await session.refreshAfter(snapshot.accessToken, true)
			if (accessToken === null) throw new LoggedOutError('no-refresh-credentials')
			return accessToken
		},

		async login(tokens) {
			apply(await send({ type: 'login', tokens }))
		},

		async exchange(request) {
			apply(await send({ type: 'exchange', request }))
		},

		async logout() {
			endSession('user', (await send({ type: 'logout', tab })).generation)
		},

		subscribe(listener) {
			listeners.add(listener)
			return () => listeners.delete(listener)
		},

		close() {
			gate.close()
			listeners.clear()
			stopListening()
			connection.close()
		},
	}
	return session
}

/** Settles as soon as the signal aborts, leaving the shared work running for everyone else. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
	if (signal === undefined) return promise
	if (signal.aborted) return Promise.reject(signal.reason)
	return new Promise((resolve, reject) => {
		const onAbort = () => reject(signal.reason)
		signal.addEventListener('abort', onAbort, { once: true })
		promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
	})
}
