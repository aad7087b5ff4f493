import type { BrokerConnection } from '../transports/connection.js'
import { LoggedOutError } from '../core/errors/logged-out-error.js'
import { type BrokerBroadcast, type ExchangeRequest, type LogoutReason, MAX_WAIT_MS, type TokenSet, type TokenSnapshot } from '../core/protocol.js'
import { LogoutGate } from './logout-gate.js'

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
export class TabSession {
	readonly #connection: BrokerConnection
	readonly #options: SessionOptions
	readonly #timeoutMs: number
	readonly #now: () => number
	readonly #tab = Math.random().toString(36).slice(2)
	readonly #listeners = new Set<(event: TokenEvent) => void>()
	readonly #stopListening: () => void
	#snapshot: TokenSnapshot = { accessToken: null, generation: 0 }
	#state: ClientState = CONNECTING
	/** Whether this tab saw a token since the last logout; onLogout runs only for tabs that had a session. */
	#hadSession = false
	readonly gate = new LogoutGate()
	#synced: Promise<void> | null
	/** Requests of this tab waiting on the same refresh share one message to the broker. */
	#pendingRefresh: { failedToken: string | null; result: Promise<TokenSnapshot>; end: (error: LoggedOutError) => void } | null = null

	constructor(connection: BrokerConnection, options: SessionOptions) {
		this.#connection = connection
		this.#options = options
		this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
		this.#now = options.now ?? Date.now
		this.#stopListening = connection.onBroadcast((message) => this.#onBroadcast(message))
		this.#synced = connection.request({ type: 'hello' }, this.#timeoutMs).then(
			(snapshot) => {
				this.#apply(snapshot)
			},
			() => undefined,
		).finally(() => {
			this.#synced = null
			if (this.#state === CONNECTING) this.#setState(SIGNED_OUT)
		})
	}

	/** The token to send now, without waiting: undefined when the caller must await tokenForRequest(). */
	freshToken(): string | null | undefined {
		if (this.#synced !== null) return undefined
		const { accessToken, expiresAt } = this.#snapshot
		if (accessToken === null || expiresAt === undefined) return accessToken
		return expiresAt - this.#now() > this.#refreshAheadMs() ? accessToken : undefined
	}

	/** Waits for the first sync, and for a refresh when the token is about to expire. */
	async tokenForRequest(signal?: AbortSignal): Promise<string | null> {
		if (this.#synced !== null) await abortable(this.#synced, signal)
		const fresh = this.freshToken()
		if (fresh !== undefined) return fresh
		const { accessToken, expiresAt = 0 } = this.#snapshot
		try {
			return (await abortable(this.refreshAfter(accessToken), signal)).accessToken
		} catch (error) {
			// A token that has not expired yet still works if the early refresh could not be done.
			if (error instanceof LoggedOutError || expiresAt <= this.#now() || signal?.aborted) throw error
			return accessToken
		}
	}

	/** A request sent with `failedToken` was refused: the broker refreshes once, or returns a newer token it already has. */
	refreshAfter(failedToken: string | null): Promise<TokenSnapshot> {
		if (this.#pendingRefresh?.failedToken === failedToken) return this.#pendingRefresh.result
		// This tab already holds a newer token (the refresh reached it as a broadcast): no message needed.
		if (failedToken !== null && this.#snapshot.accessToken !== null && this.#snapshot.accessToken !== failedToken) return Promise.resolve(this.#snapshot)
		let end!: (error: LoggedOutError) => void
		// A logout broadcast can arrive before the broker's reply: it ends the wait at once.
		const ended = new Promise<never>((_, reject) => {
			end = reject
		})
		const started = this.#now()
		const waited = (outcome: string) => this.#options.onEvent?.({ type: 'refresh-wait', outcome, durationMs: this.#now() - started })
		// The broker answers within our wait, a second early: a refusal (with its retryAt) then
		// reaches us instead of our own BrokerTimeoutError.
		const waitMs = Math.min(MAX_WAIT_MS, Math.max(0, this.#timeoutMs - 1_000))
		const result = Promise.race([this.#connection.request({ type: 'refresh', failedToken, waitMs }, this.#timeoutMs), ended])
			.then((snapshot) => {
				waited('ok')
				return this.#apply(snapshot)
			})
			.catch((error: unknown) => {
				waited(error instanceof Error ? error.name : 'Error')
				if (error instanceof LoggedOutError) this.#endSession(error.reason, error.generation ?? this.#snapshot.generation)
				throw error
			})
			.finally(() => {
				if (this.#pendingRefresh?.result === result) this.#pendingRefresh = null
			})
		this.#pendingRefresh = { failedToken, result, end }
		return result
	}

	/**
	 * The keep-alive ping. If the broker lost the session this tab still holds (a stopped
	 * worker in memory mode), the tab seeds it back with its access token.
	 */
	async ping(): Promise<void> {
		const snapshot = await this.#connection.request({ type: 'ping' }, this.#timeoutMs)
		if (snapshot.accessToken !== null || snapshot.generation >= this.#snapshot.generation) this.#apply(snapshot)
		else await this.#seed()
	}

	async #seed(): Promise<void> {
		const { accessToken, expiresAt, generation } = this.#snapshot
		if (accessToken === null) return
		const seed = expiresAt === undefined ? { accessToken, generation } : { accessToken, expiresAt, generation }
		this.#apply(await this.#connection.request({ type: 'seed', ...seed }, this.#timeoutMs))
	}

	/**
	 * Back online, or back in view: the broker's wait before its next attempt starts over, and a
	 * token that expired meanwhile is refreshed now, not on the next request's 401.
	 */
	resume(): void {
		if (this.#synced !== null || this.#snapshot.accessToken === null) return
		this.#connection.request({ type: 'resume' }, this.#timeoutMs).catch(() => undefined)
		if (this.freshToken() === undefined) this.refreshAfter(this.#snapshot.accessToken).catch(() => undefined)
	}

	get accessToken(): string | null {
		return this.#snapshot.accessToken
	}

	get state(): ClientState {
		return this.#state
	}

	async getAccessToken(): Promise<string | null> {
		return this.tokenForRequest()
	}

	async refresh(): Promise<string> {
		if (this.#synced !== null) await this.#synced
		const snapshot = await this.refreshAfter(this.#snapshot.accessToken)
		if (snapshot.accessToken === null) throw new LoggedOutError('no-refresh-credentials')
		return snapshot.accessToken
	}

	async login(tokens: TokenSet): Promise<void> {
		this.#apply(await this.#connection.request({ type: 'login', tokens }, this.#timeoutMs))
	}

	async exchange(request: ExchangeRequest): Promise<void> {
		this.#apply(await this.#connection.request({ type: 'exchange', request }, this.#timeoutMs))
	}

	async logout(): Promise<void> {
		const snapshot = await this.#connection.request({ type: 'logout', tab: this.#tab }, this.#timeoutMs)
		this.#endSession('user', snapshot.generation)
	}

	subscribe(listener: (event: TokenEvent) => void): () => void {
		this.#listeners.add(listener)
		return () => this.#listeners.delete(listener)
	}

	close(): void {
		this.gate.close()
		this.#listeners.clear()
		this.#stopListening()
		this.#connection.close()
	}

	/**
	 * A fifth of the token's lifetime by default, at most 30 s. One given explicitly is capped at half
	 * the lifetime, so no setting and no clock makes every request a refresh.
	 */
	#refreshAheadMs(): number {
		const { expiresAt, issuedAt } = this.#snapshot
		const lifetime = expiresAt === undefined || issuedAt === undefined ? undefined : expiresAt - issuedAt
		const explicit = this.#options.refreshAheadMs
		if (lifetime === undefined) return explicit ?? DEFAULT_REFRESH_AHEAD_MS
		return explicit === undefined ? Math.min(DEFAULT_REFRESH_AHEAD_MS, lifetime / 5) : Math.min(explicit, lifetime / 2)
	}

	#onBroadcast(message: BrokerBroadcast): void {
		if (message.type === 'token') {
			this.#apply(message.snapshot)
			return
		}
		if (message.type === 'seed-request') {
			this.#seed().catch(() => undefined)
			return
		}
		const reason = message.reason === 'user' && message.tab !== this.#tab ? 'remote' : message.reason
		this.#endSession(reason, message.generation)
	}

	/** Adopts a snapshot unless this tab already has a newer one (broadcasts and replies race). */
	#apply(snapshot: TokenSnapshot): TokenSnapshot {
		const current = this.#snapshot
		// Equal generations with different tokens: a late copy of a state this tab already left (e.g. ended).
		if (snapshot.generation < current.generation || (snapshot.generation === current.generation && snapshot.accessToken !== current.accessToken)) return current
		const changed = snapshot.accessToken !== this.#snapshot.accessToken
		this.#snapshot = snapshot
		if (snapshot.accessToken !== null && changed) {
			if (!this.#hadSession) this.gate.begin()
			this.#hadSession = true
			const event: TokenEvent = snapshot.expiresAt === undefined
				? { type: 'token', accessToken: snapshot.accessToken }
				: { type: 'token', accessToken: snapshot.accessToken, expiresAt: snapshot.expiresAt }
			this.#emit(event)
		}
		if (snapshot.accessToken === null) this.#setState(SIGNED_OUT)
		else if (this.#state.status !== 'signed-in' || this.#state.expiresAt !== snapshot.expiresAt) {
			this.#setState(snapshot.expiresAt === undefined ? { status: 'signed-in' } : { status: 'signed-in', expiresAt: snapshot.expiresAt })
		}
		return snapshot
	}

	#endSession(reason: LogoutReason, generation: number): void {
		if (generation < this.#snapshot.generation) return
		this.#snapshot = { accessToken: null, generation }
		// Queued requests settle before onLogout navigates away from the page they belong to.
		this.#pendingRefresh?.end(new LoggedOutError(reason))
		if (!this.#hadSession) {
			this.#setState(SIGNED_OUT)
			return
		}
		this.#hadSession = false
		this.#options.onEvent?.({ type: 'session-ended', reason })
		this.#emit({ type: 'logout', reason })
		this.#setState(SIGNED_OUT)
		// A login while the requests settle begins a new session, which the gate does not send to the login page.
		this.gate.afterRequests(() => this.#options.onLogout(reason))
	}

	#setState(state: ClientState): void {
		if (state === this.#state) return
		this.#state = state
		this.#emit({ type: 'state', state })
	}

	#emit(event: TokenEvent): void {
		for (const listener of this.#listeners) {
			try {
				listener(event)
			} catch (error) {
				queueMicrotask(() => {
					throw error
				})
			}
		}
	}
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
