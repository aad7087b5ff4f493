import type { BrokerConnection } from '../transports/connection.js'
import { LoggedOutError } from '../core/errors/logged-out-error.js'
import type { BrokerBroadcast, ExchangeRequest, LogoutReason, TokenSet, TokenSnapshot } from '../core/protocol.js'

export type TokenEvent =
	| { type: 'token'; accessToken: string; expiresAt?: number }
	| { type: 'logout'; reason: LogoutReason }

/** What a tab reports for telemetry, besides the broker's own events in the in-page host. */
export type TabEvent =
	| { type: 'connected'; host: 'service-worker' | 'in-page' | 'none' }
	/** How long this tab waited for a fresh token, and how that ended ('ok' or the error's name). */
	| { type: 'refresh-wait'; outcome: string; durationMs: number }
	| { type: 'session-ended'; reason: LogoutReason }

export const DEFAULT_TIMEOUT_MS = 15_000
const DEFAULT_REFRESH_AHEAD_MS = 30_000
/** How long onLogout waits for this tab's requests in flight: a slow upload must not keep a logged-out page. */
export const LOGOUT_SETTLE_MS = 1_000

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
	/** Whether this tab saw a token since the last logout; onLogout runs only for tabs that had a session. */
	#hadSession = false
	/** Counts the sessions this tab has seen, so a deferred onLogout can tell that a new one began meanwhile. */
	#sessions = 0
	#synced: Promise<void> | null
	/** Requests of this tab waiting on the same refresh share one message to the broker. */
	#pendingRefresh: { failedToken: string | null; result: Promise<TokenSnapshot>; end: (error: LoggedOutError) => void } | null = null
	/** How many of this tab's authorized requests are on their way: onLogout waits for them, so each settles before the page navigates away. */
	#inFlight = 0
	readonly #afterInFlight: (() => void)[] = []
	#settleLimit: ReturnType<typeof setTimeout> | undefined

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
		const result = Promise.race([this.#connection.request({ type: 'refresh', failedToken }, this.#timeoutMs), ended])
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

	/** Back online: a token that expired meanwhile is refreshed now, not on the next request's 401. */
	resume(): void {
		if (this.#synced === null && this.freshToken() === undefined) this.refreshAfter(this.#snapshot.accessToken).catch(() => undefined)
	}

	requestStarted(): void {
		this.#inFlight += 1
	}

	requestSettled(): void {
		// Never below zero: a request still out when the wait gave up may settle afterwards.
		this.#inFlight = Math.max(0, this.#inFlight - 1)
		if (this.#inFlight > 0 || this.#afterInFlight.length === 0) return
		clearTimeout(this.#settleLimit)
		// A macrotask later, so the request's own rejection has reached its caller first.
		setTimeout(() => this.#runAfterInFlight(), 0)
	}

	get accessToken(): string | null {
		return this.#snapshot.accessToken
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
		this.#afterInFlight.length = 0
		this.#listeners.clear()
		this.#stopListening()
		this.#connection.close()
	}

	#refreshAheadMs(): number {
		if (this.#options.refreshAheadMs !== undefined) return this.#options.refreshAheadMs
		const { expiresAt, issuedAt } = this.#snapshot
		if (expiresAt === undefined || issuedAt === undefined) return DEFAULT_REFRESH_AHEAD_MS
		return Math.min(DEFAULT_REFRESH_AHEAD_MS, (expiresAt - issuedAt) / 5)
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
			if (!this.#hadSession) this.#sessions += 1
			this.#hadSession = true
			const event: TokenEvent = snapshot.expiresAt === undefined
				? { type: 'token', accessToken: snapshot.accessToken }
				: { type: 'token', accessToken: snapshot.accessToken, expiresAt: snapshot.expiresAt }
			this.#emit(event)
		}
		return snapshot
	}

	#endSession(reason: LogoutReason, generation: number): void {
		if (generation < this.#snapshot.generation) return
		this.#snapshot = { accessToken: null, generation }
		// Queued requests settle before onLogout navigates away from the page they belong to.
		this.#pendingRefresh?.end(new LoggedOutError(reason))
		if (!this.#hadSession) return
		this.#hadSession = false
		this.#options.onEvent?.({ type: 'session-ended', reason })
		this.#emit({ type: 'logout', reason })
		const ended = this.#sessions
		this.#whenRequestsSettled(() => {
			// A login while the requests settled: that session must not be sent to the login page.
			if (this.#sessions === ended) this.#options.onLogout(reason)
		})
	}

	/** Runs `run` once no request of this tab is in flight, or after LOGOUT_SETTLE_MS at the latest. */
	#whenRequestsSettled(run: () => void): void {
		this.#afterInFlight.push(run)
		if (this.#inFlight === 0) {
			this.#runAfterInFlight()
			return
		}
		clearTimeout(this.#settleLimit)
		this.#settleLimit = setTimeout(() => {
			// Requests still out after the limit (or whose end went unseen: an interceptor added
			// before attach() hid it) are not waited for again by a later logout.
			this.#inFlight = 0
			this.#runAfterInFlight()
		}, LOGOUT_SETTLE_MS)
	}

	#runAfterInFlight(): void {
		for (const run of this.#afterInFlight.splice(0)) run()
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
