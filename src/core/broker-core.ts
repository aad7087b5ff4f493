import { LoggedOutError } from './errors/logged-out-error.js'
import { LoginFailedError } from './errors/login-failed-error.js'
import { RefreshUnavailableError } from './errors/refresh-unavailable-error.js'
import { type BrokerBroadcast, type BrokerRequest, type ExchangeRequest, type HeldTokens, type LogoutReason, type SessionState, type TokenSet, type TokenSnapshot, parseSessionState } from './protocol.js'
import type { RefreshFunction } from './refresh-function.js'
import { asTransient, backoffMs, isDefinitive } from './refresh-policy.js'
import { timeLimit } from './time-limit.js'
import { holdTokens, snapshotOf } from './tokens.js'

/** Where the session survives a restart of the broker's host, when persistence is on. */
export interface SessionStore {
	/** Whatever was saved; the core validates it, so a stale or tampered record cannot break it. */
	load(): Promise<unknown>
	save(session: SessionState): Promise<void>
	clear(): Promise<void>
}

export interface BrokerCoreOptions {
	refresh: RefreshFunction
	/** Performs an exchange() request; the host supplies it so the core stays free of fetch details. */
	exchange: (request: ExchangeRequest, signal: AbortSignal) => Promise<TokenSet>
	exchangeUrls: (url: URL) => boolean
	/** Base for resolving relative exchange URLs: the host's origin. */
	origin: string
	broadcast: (message: BrokerBroadcast) => void
	refreshTimeoutMs?: number
	store?: SessionStore
	now?: () => number
	random?: () => number
	/** navigator.onLine where the host has it: offline, a refresh is not even tried. */
	isOnline?: () => boolean
	onEvent?: (event: BrokerEvent) => void
}

/** What the broker reports for telemetry; silent unless the host is given an onEvent. */
export type BrokerEvent =
	| { type: 'refresh-start' }
	| { type: 'refresh-end'; outcome: 'refreshed' | 'unavailable' | 'logged-out'; durationMs: number; error?: string }
	| { type: 'login' }
	| { type: 'logout'; reason: LogoutReason }
	/** The session came back after the broker lost its memory: from storage, from the previous worker version (or another tab), or seeded by a tab. */
	| { type: 'recovered'; from: 'storage' | 'peer' | 'seed' }

export const DEFAULT_REFRESH_TIMEOUT_MS = 10_000
/** A refresh call is abandoned (and its signal aborted) only after this many refresh timeouts. */
const REFRESH_HARD_CAP_FACTOR = 3

/**
 * The longest idle() takes when nothing new starts meanwhile: a refresh run to its hard cap, then
 * a server logout that waited for it, run to the same cap (an exchange is shorter).
 */
export function maxIdleWaitMs(refreshTimeoutMs: number = DEFAULT_REFRESH_TIMEOUT_MS): number {
	return 2 * REFRESH_HARD_CAP_FACTOR * refreshTimeoutMs
}

const noop = () => undefined

/**
 * The state machine shared by the service-worker host and the in-page host: one token set,
 * a generation that only grows, at most one refresh in flight, and the retry policy.
 */
export class BrokerCore {
	readonly #options: BrokerCoreOptions
	readonly #now: () => number
	readonly #random: () => number
	readonly #refreshTimeoutMs: number
	readonly #ready: Promise<void>
	#tokens: HeldTokens | null = null
	#generation = 0
	/** Set by a logout or a definitive refresh failure; only login or exchange clears it. */
	#ended: LogoutReason | null = null
	/** The one refresh call in flight, and the generation it started from. It holds the slot until it answers. */
	#call: { answer: Promise<TokenSnapshot>; generation: number } | null = null
	readonly #exchanges = new Set<Promise<unknown>>()
	/** User logouts still ending their session at the server (RefreshFunction.logout). */
	readonly #serverLogouts = new Set<Promise<void>>()
	#failures = 0
	#retryAfter = 0
	#sawOffline = false

	constructor(options: BrokerCoreOptions) {
		this.#options = options
		this.#now = options.now ?? Date.now
		this.#random = options.random ?? Math.random
		this.#refreshTimeoutMs = options.refreshTimeoutMs ?? DEFAULT_REFRESH_TIMEOUT_MS
		this.#ready = this.#restore()
	}

	/** Whether a refresh, an exchange or a server logout is running. */
	get busy(): boolean {
		return this.#call !== null || this.#exchanges.size > 0 || this.#serverLogouts.size > 0
	}

	/** Settles once no refresh, exchange or server logout is running: a version hand-over must not leave one behind. */
	idle(): Promise<void> {
		const running = [...this.#exchanges, ...this.#serverLogouts, ...(this.#call === null ? [] : [this.#call.answer])]
		return Promise.allSettled(running).then(() => undefined)
	}

	async handle(request: BrokerRequest): Promise<TokenSnapshot> {
		await this.#ready
		switch (request.type) {
			case 'hello':
			case 'ping':
				return this.snapshot()
			case 'refresh':
				return this.#refresh(request.failedToken)
			case 'login':
				return this.#adopt(request.tokens)
			case 'exchange':
				return this.#exchange(request.request)
			case 'logout':
				return this.#logout('user', request.tab)
			case 'seed':
				return this.#seed(request)
		}
	}

	snapshot(): TokenSnapshot {
		return snapshotOf(this.#tokens, this.#generation)
	}

	/** The whole session, refresh token included: only for another broker (see SessionState). */
	exportState(): SessionState {
		return { tokens: this.#tokens, generation: this.#generation, ended: this.#ended }
	}

	/** Adopts another broker's session if it is newer than ours; no broadcast, the tabs have it already. */
	importState(state: SessionState): boolean {
		if (!this.#adoptState(state)) return false
		this.#emit({ type: 'recovered', from: 'peer' })
		void this.#persist()
		return true
	}

	#adoptState(state: SessionState): boolean {
		if (state.generation <= this.#generation) return false
		this.#tokens = state.tokens
		this.#generation = state.generation
		this.#ended = state.ended
		return true
	}

	async #restore(): Promise<void> {
		const saved = parseSessionState(await this.#options.store?.load().catch(() => undefined))
		if (saved !== undefined && this.#adoptState(saved) && saved.tokens !== null) this.#emit({ type: 'recovered', from: 'storage' })
	}

	/** Persistence follows every change; a store that fails must not fail the request that changed it. */
	async #persist(): Promise<void> {
		const store = this.#options.store
		if (store === undefined) return
		const state = this.exportState()
		await (state.tokens === null ? store.clear() : store.save(state)).catch(() => undefined)
	}

	/** Generations must grow across restarts of the host too, so they start from the clock. */
	#nextGeneration(): number {
		this.#generation = Math.max(this.#generation + 1, this.#now())
		return this.#generation
	}

	#refresh(failedToken: string | null): Promise<TokenSnapshot> {
		const call = this.#call
		if (call !== null && call.generation === this.#generation) return this.#waitFor(call.answer)
		// The caller's token is already replaced: retry with the current one, no refresh needed.
		if (this.#tokens !== null && failedToken !== this.#tokens.accessToken) return Promise.resolve(this.snapshot())
		if (this.#ended !== null) return Promise.reject(this.#loggedOut(this.#ended))
		// A login or logout came after the running call started, so its answer is not for this caller;
		// but it may still rotate the refresh token, so the next call waits for it.
		if (call !== null) return this.#waitFor(call.answer.then(noop, noop).then(() => this.#refresh(failedToken)))
		// A user logout is still ending its session at the server: until it has, the credential
		// the browser holds (a cookie) may be that session's, which must not be presented again.
		if (this.#serverLogouts.size > 0) return this.#waitFor(Promise.allSettled(this.#serverLogouts).then(() => this.#refresh(failedToken)))
		if (this.#options.isOnline?.() === false) {
			this.#sawOffline = true
			return Promise.reject(new RefreshUnavailableError('the browser is offline'))
		}
		// Back online: failures while offline say nothing about the endpoint, so no backoff.
		if (this.#sawOffline) {
			this.#sawOffline = false
			this.#resetBackoff()
		}
		const wait = this.#retryAfter - this.#now()
		if (wait > 0) {
			return Promise.reject(new RefreshUnavailableError(`${this.#failures} refresh attempts failed in a row; the next one is allowed in ${wait} ms`))
		}
		const started = this.#now()
		const ended = (outcome: 'refreshed' | 'unavailable' | 'logged-out', error?: unknown) => this.#emit({
			type: 'refresh-end',
			outcome,
			durationMs: this.#now() - started,
			...(error instanceof Error ? { error: error.message } : {}),
		})
		this.#emit({ type: 'refresh-start' })
		const answer = this.#runRefresh().then(
			(snapshot) => {
				ended('refreshed')
				return snapshot
			},
			(error: unknown) => {
				ended(error instanceof LoggedOutError ? 'logged-out' : 'unavailable', error)
				throw error
			},
		).finally(() => {
			this.#call = null
		})
		// Nobody may be listening when a late answer fails; the failure is reported through the event above.
		answer.catch(noop)
		this.#call = { answer, generation: this.#generation }
		return this.#waitFor(answer)
	}

	/**
	 * Waiters give up after refreshTimeoutMs; the call itself runs on (up to a hard cap). Aborting
	 * would not undo a rotation the server may already have made: a late answer is kept, and no
	 * second call goes out with the old refresh token meanwhile.
	 */
	#waitFor(answer: Promise<TokenSnapshot>): Promise<TokenSnapshot> {
		const timeoutMs = this.#refreshTimeoutMs
		return timeLimit(answer, timeoutMs, () => new RefreshUnavailableError(`the refresh did not answer within ${timeoutMs} ms`))
	}

	async #runRefresh(): Promise<TokenSnapshot> {
		const generation = this.#generation
		const previous = this.#tokens
		let result: TokenSet
		try {
			result = await this.#abortAfter('refresh', this.#refreshTimeoutMs * REFRESH_HARD_CAP_FACTOR, (signal) => this.#options.refresh(previous?.refreshToken === undefined ? { signal } : { refreshToken: previous.refreshToken, signal }))
			if (typeof result?.accessToken !== 'string' || result.accessToken.length === 0) {
				throw new RefreshUnavailableError('the refresh function returned no access token')
			}
		} catch (error) {
			if (this.#generation !== generation) return this.#settledMeanwhile()
			if (isDefinitive(error)) {
				await this.#logout(error.reason)
				throw this.#loggedOut(error.reason)
			}
			this.#failures += 1
			this.#retryAfter = this.#now() + backoffMs(this.#failures, this.#random)
			throw asTransient(error)
		}
		// A login or logout while the refresh ran wins: its state is newer than this answer.
		if (this.#generation !== generation) return this.#settledMeanwhile()
		this.#resetBackoff()
		return this.#set(holdTokens(result, this.#now(), previous?.refreshToken))
	}

	#loggedOut(reason: LogoutReason): LoggedOutError {
		return new LoggedOutError(reason, { generation: this.#generation })
	}

	#settledMeanwhile(): TokenSnapshot {
		if (this.#tokens === null) throw this.#loggedOut(this.#ended ?? 'user')
		return this.snapshot()
	}

	/** Raced as well as signalled: a refresh function that ignores its signal must not hang us. */
	#abortAfter<T>(operation: string, timeoutMs: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
		const controller = new AbortController()
		// A function that throws at once fails like one that rejects.
		const running = new Promise<T>((resolve) => resolve(run(controller.signal)))
		return timeLimit(running, timeoutMs, () => {
			const error = new RefreshUnavailableError(`${operation} timed out after ${timeoutMs} ms`)
			controller.abort(error)
			return error
		})
	}

	async #exchange(request: ExchangeRequest): Promise<TokenSnapshot> {
		let url: URL
		try {
			url = new URL(request.url, this.#options.origin)
		} catch {
			throw new LoginFailedError(`exchange() was given an invalid URL: ${request.url.slice(0, 200)}`)
		}
		if (!this.#options.exchangeUrls(url)) {
			throw new LoginFailedError(`The broker does not exchange tokens with ${url.origin}${url.pathname}. Allow it with the broker's exchangeUrls option.`)
		}
		const exchanged = this.#abortAfter('exchange', this.#refreshTimeoutMs, (signal) => this.#options.exchange({ ...request, url: url.href }, signal))
		this.#exchanges.add(exchanged)
		const tokens = await exchanged
			.catch((error: unknown) => {
				if (error instanceof LoginFailedError) throw error
				throw new LoginFailedError(`The sign-in did not complete: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
			})
			.finally(() => this.#exchanges.delete(exchanged))
		return this.#adopt(tokens)
	}

	#resetBackoff(): void {
		this.#failures = 0
		this.#retryAfter = 0
	}

	#adopt(tokens: TokenSet): Promise<TokenSnapshot> {
		this.#ended = null
		this.#resetBackoff()
		this.#emit({ type: 'login' })
		return this.#set(holdTokens(tokens, this.#now()))
	}

	async #set(tokens: HeldTokens): Promise<TokenSnapshot> {
		this.#tokens = tokens
		this.#nextGeneration()
		const snapshot = this.snapshot()
		this.#options.broadcast({ type: 'token', snapshot })
		await this.#persist()
		return snapshot
	}

	/** A tab still holding an access token re-seeds a broker that lost its memory (a stopped worker). */
	#seed(seed: { accessToken: string; expiresAt?: number; generation: number }): TokenSnapshot {
		// A refresh in flight will bring a newer token; a seed now would make it look superseded.
		if (this.#tokens === null && this.#ended === null && this.#call === null) {
			this.#tokens = seed.expiresAt === undefined ? { accessToken: seed.accessToken } : { accessToken: seed.accessToken, expiresAt: seed.expiresAt }
			this.#generation = Math.max(this.#generation, seed.generation)
			this.#emit({ type: 'recovered', from: 'seed' })
		}
		return this.snapshot()
	}

	async #logout(reason: LogoutReason, tab?: string): Promise<TokenSnapshot> {
		const credential = this.#tokens?.refreshToken
		this.#tokens = null
		this.#ended = reason
		this.#emit({ type: 'logout', reason })
		const generation = this.#nextGeneration()
		this.#options.broadcast(tab === undefined ? { type: 'logout', reason, generation } : { type: 'logout', reason, generation, tab })
		// The logout's own state: a login may land while the server logout below is under way.
		const loggedOut = this.snapshot()
		// Started before anything awaits, so that no refresh after a quick new login slips in ahead of it.
		const endedAtServer = reason === 'user' ? this.#endAtServer(credential) : undefined
		await this.#persist()
		await endedAtServer
		return loggedOut
	}

	/**
	 * After a refresh that was running has answered (it may set a rotated cookie), so that the
	 * server ends the session the browser holds now. Best effort: the tabs are logged out already.
	 * Like a refresh call it holds the slot until it answers (up to the same hard cap): refreshes
	 * wait for it (see #refresh), so none presents the credential it is ending.
	 */
	#endAtServer(refreshToken: string | undefined): Promise<void> {
		const logout = this.#options.refresh.logout
		if (logout === undefined) return Promise.resolve()
		const ending: Promise<void> = this.idle()
			.then(() => this.#abortAfter('logout', this.#refreshTimeoutMs * REFRESH_HARD_CAP_FACTOR, (signal) => logout(refreshToken === undefined ? { signal } : { refreshToken, signal })))
			.catch(noop)
			.finally(() => this.#serverLogouts.delete(ending))
		this.#serverLogouts.add(ending)
		return ending
	}

	/** Telemetry must never break the broker. */
	#emit(event: BrokerEvent): void {
		try {
			this.#options.onEvent?.(event)
		} catch {
			// A throwing telemetry hook is the app's bug, not a reason to fail a refresh.
		}
	}
}
