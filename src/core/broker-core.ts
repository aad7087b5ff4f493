import { MAX_TIMER_MS, checkDuration } from './check-duration.js'
import type { DPoPKeys } from './dpop/key-ring.js'
import type { Prover } from './dpop/prover.js'
import { LoggedOutError } from './errors/logged-out-error.js'
import { messageOf } from './errors/serialize.js'
import { LoginFailedError } from './errors/login-failed-error.js'
import { RefreshUnavailableError } from './errors/refresh-unavailable-error.js'
import {
	type BrokerBroadcast,
	type BrokerRequest,
	type ExchangeRequest,
	type HeldTokens,
	type LogoutReason,
	MAX_WAIT_MS,
	type SessionState,
	type SignInOptions,
	type TokenSet,
	type TokenSnapshot,
} from './protocol.js'
import { parseSessionState } from './parse-message.js'
import type { RefreshContext, RefreshFunction } from './refresh-function.js'
import { MAX_RETRY_AFTER_MS, asTransient, backoffMs, configurationProblem, isDefinitive } from './refresh-policy.js'
import { type PendingSignIns, memoryPendingSignIns } from './oidc/pending-sign-in.js'
import type { SignInContext, SignInFlow } from './oidc/sign-in-flow.js'
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
	exchange: (request: ExchangeRequest, signal: AbortSignal, dpop?: Prover) => Promise<TokenSet>
	exchangeUrls: (url: URL) => boolean
	/** false: a tab's login(tokens) is refused, for apps that sign in only with exchange() or signIn(). Default true. */
	acceptLogin?: boolean
	/** Base for resolving relative exchange URLs: the host's origin. */
	origin: string
	broadcast: (message: BrokerBroadcast) => void
	refreshTimeoutMs?: number
	store?: SessionStore
	/** Where sign-ins wait for their callback (IndexedDB in the hosts); default: memory. */
	pendingSignIns?: PendingSignIns
	now?: () => number
	random?: () => number
	/** navigator.onLine where the host has it: offline, a refresh is not even tried. */
	isOnline?: () => boolean
	onEvent?: (event: BrokerEvent) => void
	/** `dpop: true`: the session's key; every token-endpoint request carries a proof signed with it. */
	dpop?: DPoPKeys
}

/** What the broker reports for telemetry; silent unless the host is given an onEvent. */
export type BrokerEvent =
	| { type: 'refresh-start' }
	| { type: 'refresh-end'; outcome: 'refreshed' | 'unavailable' | 'logged-out'; durationMs: number; error?: string }
	| { type: 'login' }
	| { type: 'logout'; reason: LogoutReason }
	/** The session came back after the broker lost its memory: from storage, from the previous worker version (or another tab), or seeded by a tab. */
	| { type: 'recovered'; from: 'storage' | 'peer' | 'seed' }
	/**
	 * When the next refresh attempt is allowed (epoch ms), after a transient failure (`failures`
	 * in a row; `retryAfterMs` when the endpoint sent Retry-After) or a resume (`failures` 0).
	 */
	| { type: 'backoff'; retryAt: number; delayMs: number; failures: number; retryAfterMs?: number }
	/** A user logout's call of RefreshFunction.logout (revocation, logoutUrl) ended; the tabs were logged out before it started. */
	| { type: 'server-logout'; outcome: 'ok' | 'failed'; error?: string }

export const DEFAULT_REFRESH_TIMEOUT_MS = 10_000
/**
 * A refresh call is abandoned (and its signal aborted) only after this many refresh timeouts.
 * Not sooner: a call that has not answered may still rotate the refresh token at the server,
 * and the next call can only present the old one (docs/lifetimes-and-engines.md: "When the session ends").
 */
const REFRESH_HARD_CAP_FACTOR = 3
/**
 * A resume (online, a tab made visible) allows an attempt now, but not within this long of the
 * last one's start: every tab sees `online` at once, and that is one attempt, not one per tab.
 */
const RESUME_MIN_GAP_MS = 1_000

/**
 * The longest idle() takes when nothing new starts meanwhile: an attempt scheduled as far out as
 * a waiter may wait, run to the hard cap, then a server logout that waited for it, run to the
 * same cap (an exchange is shorter).
 */
export function maxIdleWaitMs(refreshTimeoutMs: number = DEFAULT_REFRESH_TIMEOUT_MS): number {
	return MAX_WAIT_MS + 2 * REFRESH_HARD_CAP_FACTOR * refreshTimeoutMs
}

/** The next refresh attempt, once the backoff has passed; requests that arrive meanwhile wait for it. */
interface ScheduledAttempt {
	failedToken: string | null
	timer: ReturnType<typeof setTimeout>
	answer: Promise<TokenSnapshot>
	run: () => void
}

/** A refresh call in flight. `rotated`: the refresh token it answered with, which a logout during the call must end. */
interface RefreshCall {
	answer: Promise<TokenSnapshot>
	generation: number
	rotated?: string
}

const noop = () => undefined

/** A sign-in step's failure as the tab gets it: the step's own LoginFailedError, or one that wraps the cause. */
function signInFailed(error: unknown, oauthError?: string): LoginFailedError {
	if (error instanceof LoginFailedError) return error
	return new LoginFailedError(`The sign-in did not complete: ${messageOf(error)}`, { cause: error, ...(oauthError === undefined ? {} : { oauthError }) })
}

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
	#call: RefreshCall | null = null
	readonly #exchanges = new Set<Promise<unknown>>()
	/** User logouts still ending their session at the server (RefreshFunction.logout). */
	readonly #serverLogouts = new Set<Promise<void>>()
	#scheduled: ScheduledAttempt | null = null
	/** Transient failures in a row, for the backoff event; a success, a login or a resume starts the count over. */
	#failures = 0
	/** No attempt starts before this (the backoff, at least any Retry-After); 0: now. */
	#nextAttemptAt = 0
	/** A Retry-After the endpoint asked for: a resume does not cut it short. */
	#retryAfterUntil = 0
	#lastAttemptAt = Number.NEGATIVE_INFINITY
	#sawOffline = false
	#pendingSignIns: PendingSignIns | undefined

	constructor(options: BrokerCoreOptions) {
		// A refresh call runs to three times this: each of those waits must fit a timer.
		checkDuration('refreshTimeoutMs', options.refreshTimeoutMs, 1, MAX_TIMER_MS / REFRESH_HARD_CAP_FACTOR)
		this.#options = options
		this.#now = options.now ?? Date.now
		this.#random = options.random ?? Math.random
		this.#refreshTimeoutMs = options.refreshTimeoutMs ?? DEFAULT_REFRESH_TIMEOUT_MS
		this.#ready = this.#restore()
	}

	/** Whether a refresh (running or scheduled), an exchange or a server logout is under way. */
	get busy(): boolean {
		return this.#call !== null || this.#scheduled !== null || this.#exchanges.size > 0 || this.#serverLogouts.size > 0
	}

	/** Settles once no refresh (running or scheduled), exchange or server logout is under way: a version hand-over must not leave one behind. */
	idle(): Promise<void> {
		const scheduled = this.#scheduled === null ? [] : [this.#scheduled.answer]
		return Promise.allSettled([...this.#sessionWork(), ...scheduled]).then(() => undefined)
	}

	/** What may still change the credential the browser holds: a refresh call, an exchange, a server logout. */
	#sessionWork(): Promise<unknown>[] {
		return [...this.#exchanges, ...this.#serverLogouts, ...(this.#call === null ? [] : [this.#call.answer])]
	}

	async handle(request: BrokerRequest): Promise<TokenSnapshot> {
		await this.#ready
		switch (request.type) {
			case 'hello':
			case 'ping':
				return this.snapshot()
			case 'refresh':
				return this.#refresh(request.failedToken, Math.min(Math.max(0, request.waitMs ?? this.#refreshTimeoutMs), MAX_WAIT_MS), request.generation)
			case 'resume':
				this.#resume()
				return this.snapshot()
			case 'login':
				// Any same-origin script may call login() with a token set of its choosing.
				if (this.#options.acceptLogin === false) throw new LoginFailedError('This broker refuses login(tokens) (acceptLogin: false): sign in with exchange() or signIn().')
				return this.#login(request.tokens)
			case 'exchange':
				return this.#exchange(request.request)
			case 'logout':
				return request.endSession === true ? this.#logoutAndEndSession(request.tab) : this.#logout('user', request.tab)
			case 'sign-in':
				return this.#signIn(request.options)
			case 'complete-sign-in':
				return this.#completeSignIn(request.url)
			case 'seed':
				return this.#seed(request)
		}
	}

	snapshot(): TokenSnapshot {
		const snapshot = snapshotOf(this.#tokens, this.#generation)
		const key = this.#options.dpop?.current
		// A bearer token (a provider that ignored the proof) is sent as one: the tabs get no key for it.
		if (key !== undefined && this.#tokens?.tokenType?.toLowerCase() === 'dpop') {
			snapshot.tokenType = 'DPoP'
			snapshot.dpop = { keyPair: key.keyPair, clockOffsetMs: key.clock.offsetMs, jkt: key.jkt }
		}
		return snapshot
	}

	/** The whole session, refresh token included: only for another broker (see SessionState). */
	exportState(): SessionState {
		return { tokens: this.#tokens, generation: this.#generation, ended: this.#ended }
	}

	/** Adopts another broker's session if it is newer than ours; no broadcast, the tabs have it already. */
	importState(state: SessionState): boolean {
		if (!this.#adoptState(state)) return false
		void this.#options.dpop?.reload()
		this.#emit({ type: 'recovered', from: 'peer' })
		void this.#persist()
		return true
	}

	#adoptState(state: SessionState): boolean {
		if (state.generation <= this.#generation) return false
		this.#tokens = state.tokens
		this.#generation = state.generation
		this.#ended = state.ended
		this.#runScheduledNow()
		return true
	}

	async #restore(): Promise<void> {
		const [stored] = await Promise.all([this.#options.store?.load().catch(() => undefined), this.#options.dpop?.restore()])
		const saved = parseSessionState(stored)
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

	/**
	 * `limit`: how long the caller waits for the answer; it joins an attempt due within it, and is
	 * refused at once otherwise. `tabGeneration`: the caller's, when it said.
	 */
	#refresh(failedToken: string | null, limit: number, tabGeneration?: number): Promise<TokenSnapshot> {
		const arrived = this.#now()
		const remaining = () => Math.max(0, limit - (this.#now() - arrived))
		const call = this.#call
		if (call !== null && call.generation === this.#generation) return this.#waitFor(call.answer, limit)
		// The caller's token is already replaced: retry with the current one, no refresh needed. Not when
		// the caller's token is newer than ours (we restarted and were seeded with an older one): ours would be refused too.
		const callerAhead = failedToken !== null && (tabGeneration ?? 0) > this.#generation
		if (this.#tokens !== null && failedToken !== this.#tokens.accessToken && !callerAhead) return Promise.resolve(this.snapshot())
		// As a seed does: the refresh's answer must come out newer than what the caller holds.
		if (callerAhead) this.#generation = tabGeneration!
		if (this.#ended !== null) return Promise.reject(this.#loggedOut(this.#ended))
		// A login or logout came after the running call started, so its answer is not for this caller;
		// but it may still rotate the refresh token, so the next call waits for it.
		if (call !== null)
			return this.#waitFor(
				call.answer.then(noop, noop).then(() => this.#refresh(failedToken, remaining())),
				limit,
			)
		// A user logout is still ending its session at the server: until it has, the credential
		// the browser holds (a cookie) may be that session's, which must not be presented again.
		if (this.#serverLogouts.size > 0)
			return this.#waitFor(
				Promise.allSettled(this.#serverLogouts).then(() => this.#refresh(failedToken, remaining())),
				limit,
			)
		if (this.#options.isOnline?.() === false) {
			this.#sawOffline = true
			return Promise.reject(new RefreshUnavailableError('the browser is offline'))
		}
		// Back online: failures while offline say nothing about the endpoint, so no backoff.
		if (this.#sawOffline) {
			this.#sawOffline = false
			this.#startOver(arrived)
		}
		const due = this.#nextAttemptAt - arrived
		if (this.#scheduled === null && due <= 0) return this.#waitFor(this.#startCall(), limit)
		// An attempt due right at the limit could not answer within it.
		if (due >= limit) {
			return Promise.reject(
				new RefreshUnavailableError(`the token endpoint is given time to recover: the next attempt is due in ${due} ms, not within this request's time limit of ${limit} ms`, {
					retryAt: this.#nextAttemptAt,
				}),
			)
		}
		return this.#waitFor((this.#scheduled ??= this.#schedule(failedToken)).answer, limit)
	}

	/** The attempt the backoff allows next: one timer, however many requests wait for it. */
	#schedule(failedToken: string | null): ScheduledAttempt {
		let settle!: (answer: Promise<TokenSnapshot>) => void
		const answer = new Promise<TokenSnapshot>((resolve) => {
			settle = resolve
		})
		// Nobody may be waiting any more when it fails; the failure is reported through events.
		answer.catch(noop)
		const scheduled: ScheduledAttempt = {
			failedToken,
			answer,
			timer: setTimeout(() => scheduled.run(), Math.max(0, this.#nextAttemptAt - this.#now())),
			run: () => {
				clearTimeout(scheduled.timer)
				if (this.#scheduled !== scheduled) return
				this.#scheduled = null
				// Through #refresh again: a login, a logout or going offline meanwhile decides as for any request.
				settle(this.#refresh(scheduled.failedToken, MAX_WAIT_MS))
			},
		}
		return scheduled
	}

	/** The session changed (login, logout, another broker's state): whoever waits for the scheduled attempt learns it now. */
	#runScheduledNow(): void {
		this.#scheduled?.run()
	}

	/** The wait before the next attempt starts over (spec 6: on `online` and when a tab becomes visible). */
	#resume(): void {
		const now = this.#now()
		const at = Math.max(now, this.#lastAttemptAt + RESUME_MIN_GAP_MS, this.#retryAfterUntil)
		if (at >= this.#nextAttemptAt) return
		this.#failures = 0
		this.#nextAttemptAt = at
		this.#emit({ type: 'backoff', retryAt: at, delayMs: at - now, failures: 0 })
		const scheduled = this.#scheduled
		if (scheduled === null) return
		clearTimeout(scheduled.timer)
		scheduled.timer = setTimeout(() => scheduled.run(), at - now)
	}

	/** No backoff any more: the next attempt may go out at once (a success, a login, back online). */
	#startOver(now: number): void {
		this.#failures = 0
		this.#nextAttemptAt = 0
		this.#retryAfterUntil = Math.min(this.#retryAfterUntil, now)
	}

	#startCall(): Promise<TokenSnapshot> {
		const started = this.#now()
		this.#lastAttemptAt = started
		const ended = (outcome: 'refreshed' | 'unavailable' | 'logged-out', error?: unknown) =>
			this.#emit({
				type: 'refresh-end',
				outcome,
				durationMs: this.#now() - started,
				...(error instanceof Error ? { error: error.message } : {}),
			})
		this.#emit({ type: 'refresh-start' })
		const call = { generation: this.#generation } as RefreshCall
		const answer = this.#runRefresh(call)
			.then(
				(snapshot) => {
					ended('refreshed')
					return snapshot
				},
				(error: unknown) => {
					ended(error instanceof LoggedOutError ? 'logged-out' : 'unavailable', error)
					throw error
				},
			)
			.finally(() => {
				this.#call = null
			})
		// Nobody may be listening when a late answer fails; the failure is reported through the event above.
		answer.catch(noop)
		call.answer = answer
		this.#call = call
		return answer
	}

	/**
	 * Waiters give up after their limit; the call itself runs on (up to a hard cap). Aborting
	 * would not undo a rotation the server may already have made: a late answer is kept, and no
	 * second call goes out with the old refresh token meanwhile.
	 */
	#waitFor(answer: Promise<TokenSnapshot>, limit: number): Promise<TokenSnapshot> {
		return timeLimit(answer, limit, () => new RefreshUnavailableError(`the refresh did not answer within ${limit} ms`))
	}

	async #runRefresh(call: RefreshCall): Promise<TokenSnapshot> {
		const generation = call.generation
		const previous = this.#tokens
		let result: TokenSet
		try {
			result = await this.#present('refresh', this.#options.refresh, previous?.refreshToken, await this.#options.dpop?.forRefresh())
			if (typeof result?.accessToken !== 'string' || result.accessToken.length === 0) {
				throw new RefreshUnavailableError('the refresh function returned no access token')
			}
		} catch (error) {
			if (this.#generation !== generation) return this.#settledMeanwhile()
			if (isDefinitive(error)) {
				const problem = configurationProblem(error.oauthError)
				if (problem !== undefined) console.error(`sw-token-broker: the token endpoint answered ${error.oauthError}, so every session ends at its first refresh: ${problem}.`)
				await this.#logout(error.reason)
				throw this.#loggedOut(error.reason)
			}
			throw this.#backOff(error)
		}
		if (result.refreshToken !== undefined) call.rotated = result.refreshToken
		// A login or logout while the refresh ran wins: its state is newer than this answer.
		if (this.#generation !== generation) return this.#settledMeanwhile()
		this.#startOver(this.#now())
		return this.#set(holdTokens(result, this.#now(), previous?.refreshToken, previous))
	}

	/** Schedules the next attempt after a transient failure, and says when it is due. */
	#backOff(error: unknown): RefreshUnavailableError {
		const transient = asTransient(error)
		const now = this.#now()
		this.#failures += 1
		const delayMs = backoffMs(this.#random, transient.retryAfterMs)
		this.#nextAttemptAt = now + delayMs
		if (transient.retryAfterMs !== undefined) this.#retryAfterUntil = now + Math.min(transient.retryAfterMs, MAX_RETRY_AFTER_MS)
		this.#emit({ type: 'backoff', retryAt: this.#nextAttemptAt, delayMs, failures: this.#failures, ...(transient.retryAfterMs === undefined ? {} : { retryAfterMs: transient.retryAfterMs }) })
		return new RefreshUnavailableError(transient.detail, { cause: error, retryAt: this.#nextAttemptAt, retryAfterMs: transient.retryAfterMs, status: transient.status })
	}

	#loggedOut(reason: LogoutReason): LoggedOutError {
		return new LoggedOutError(reason, { generation: this.#generation })
	}

	#settledMeanwhile(): TokenSnapshot {
		if (this.#tokens === null) throw this.#loggedOut(this.#ended ?? 'user')
		return this.snapshot()
	}

	/** A call of the app's refresh or logout, which may rotate or end the credential: it runs up to the hard cap. */
	#present<T>(operation: string, call: (context: RefreshContext) => Promise<T>, refreshToken: string | undefined, dpop: Prover | undefined): Promise<T> {
		return this.#abortAfter(operation, this.#refreshTimeoutMs * REFRESH_HARD_CAP_FACTOR, (signal) => {
			const context: RefreshContext = refreshToken === undefined ? { signal } : { refreshToken, signal }
			if (dpop !== undefined) context.dpop = dpop
			return call(context)
		})
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
		return this.#newSession((key) =>
			this.#abortAfter('exchange', this.#refreshTimeoutMs, (signal) => this.#options.exchange({ ...request, url: url.href }, signal, key)).then(
				(tokens) => ({ tokens }),
				(error: unknown) => {
					throw signInFailed(error)
				},
			),
		)
	}

	/**
	 * A sign-in's token request (an exchange, a sign-in's code exchange). A new session, a new key:
	 * the one it will be bound to signs the request, and is the session's only once it succeeds.
	 * Tracked as an exchange: a version hand-over waits for it, and a failure leaves the session as it was.
	 */
	async #newSession(request: (key: Prover | undefined) => Promise<{ tokens: TokenSet; returnTo?: string | undefined }>): Promise<TokenSnapshot> {
		const key = await this.#options.dpop?.create()
		const requested = request(key)
		this.#exchanges.add(requested)
		const { tokens, returnTo } = await requested.finally(() => this.#exchanges.delete(requested))
		if (key !== undefined) await this.#options.dpop?.adopt(key)
		const snapshot = await this.#adopt(tokens)
		return returnTo === undefined ? snapshot : { ...snapshot, location: returnTo }
	}

	/** Tokens a page obtained itself cannot be bound to our key: the session starts without one, and its first refresh makes one. */
	async #login(tokens: TokenSet): Promise<TokenSnapshot> {
		await this.#options.dpop?.drop().cleared
		return this.#adopt(tokens)
	}

	/** The refresh preset's sign-in flow (openIdProvider); without one, signIn() is a configuration error. */
	#signInFlow(): SignInFlow {
		const flow = this.#options.refresh.signIn
		if (flow === undefined)
			throw new LoginFailedError('This broker cannot sign in: give createTokenBroker an openIdProvider({ issuer, clientId, redirectUri }) as its refresh.', { oauthError: 'unsupported_response_type' })
		return flow
	}

	/** One call of the sign-in flow, time-limited like an exchange; whatever it throws is a LoginFailedError. */
	async #runFlow<T>(operation: string, run: (flow: SignInFlow, context: SignInContext) => Promise<T>, dpop?: Prover): Promise<T> {
		const flow = this.#signInFlow()
		const pending = (this.#pendingSignIns ??= this.#options.pendingSignIns ?? memoryPendingSignIns())
		return this.#abortAfter(operation, this.#refreshTimeoutMs, (signal) =>
			run(flow, { origin: this.#options.origin, pending, signal, now: this.#now(), ...(dpop === undefined ? {} : { dpop }) }),
		).catch((error: unknown) => {
			throw signInFailed(error, 'temporarily_unavailable')
		})
	}

	/** Nothing changes here until the callback: the current session, if any, stays as it is. */
	async #signIn(options: SignInOptions): Promise<TokenSnapshot> {
		const location = await this.#runFlow('sign-in', (flow, context) => flow.begin(options, context))
		return { ...this.snapshot(), location }
	}

	#completeSignIn(url: string): Promise<TokenSnapshot> {
		return this.#newSession((key) => this.#runFlow('completeSignIn', (flow, context) => flow.complete(url, context), key))
	}

	/** RP-initiated logout: every tab drops the session first; the reply names the provider's end-session URL. */
	async #logoutAndEndSession(tab: string): Promise<TokenSnapshot> {
		const idToken = this.#tokens?.idToken
		const loggedOut = await this.#logout('user', tab)
		const location = await this.#runFlow('endSession', (flow, context) => flow.endSessionUrl(idToken, context)).catch(() => undefined)
		return location === undefined ? loggedOut : { ...loggedOut, location }
	}

	#adopt(tokens: TokenSet): Promise<TokenSnapshot> {
		this.#ended = null
		this.#startOver(this.#now())
		this.#emit({ type: 'login' })
		return this.#set(holdTokens(tokens, this.#now()))
	}

	async #set(tokens: HeldTokens): Promise<TokenSnapshot> {
		this.#options.dpop?.check(tokens)
		this.#tokens = tokens
		this.#nextGeneration()
		const snapshot = this.snapshot()
		this.#options.broadcast({ type: 'token', snapshot })
		this.#runScheduledNow()
		await this.#persist()
		return snapshot
	}

	/** A tab still holding an access token re-seeds a broker that lost its memory (a stopped worker). */
	#seed(seed: { accessToken: string; expiresAt?: number; issuedAt?: number; generation: number; tokenType?: string }): TokenSnapshot {
		// A refresh in flight will bring a newer token; a seed now would make it look superseded.
		if (this.#tokens === null && this.#ended === null && this.#call === null) {
			const { accessToken, expiresAt, issuedAt, tokenType } = seed
			this.#tokens = { accessToken }
			if (expiresAt !== undefined) this.#tokens.expiresAt = expiresAt
			if (issuedAt !== undefined) this.#tokens.issuedAt = issuedAt
			if (tokenType !== undefined) this.#tokens.tokenType = tokenType
			// Newer than the empty state this broker may have told a tab at its generation (which a
			// refresh by a tab ahead of it lifts to the tab's): that tab takes only a newer state.
			this.#generation = Math.max(this.#generation + 1, seed.generation)
			this.#emit({ type: 'recovered', from: 'seed' })
		}
		return this.snapshot()
	}

	/**
	 * Answers once the session is dropped here and the logout is broadcast. A user logout's server
	 * logout goes on after that (see #endAtServer): the tabs must not wait for a slow endpoint.
	 */
	async #logout(reason: LogoutReason, tab?: string): Promise<TokenSnapshot> {
		const held = this.#tokens?.refreshToken
		// A refresh of this session still running may rotate its refresh token: that one is ended then.
		const running = this.#call?.generation === this.#generation ? this.#call : null
		const credential = () => running?.rotated ?? held
		// Gone from memory and storage at once; the revocation below still signs with it.
		const dropped = this.#options.dpop?.drop()
		this.#tokens = null
		this.#ended = reason
		this.#emit({ type: 'logout', reason })
		const generation = this.#nextGeneration()
		// Started before the broadcast: in the in-page host the broadcast runs onLogout, which
		// navigates, and a fetch (keepalive) survives the navigation only once it has started.
		if (reason === 'user') this.#endAtServer(credential, dropped?.key)
		this.#options.broadcast(tab === undefined ? { type: 'logout', reason, generation } : { type: 'logout', reason, generation, tab })
		this.#runScheduledNow()
		// The logout's own state: a login may land while the server logout is under way.
		const loggedOut = this.snapshot()
		await Promise.all([this.#persist(), dropped?.cleared])
		return loggedOut
	}

	/**
	 * After a refresh or exchange that was running has answered (it may set a rotated cookie), so
	 * that the server ends the session the browser holds now; at once when nothing runs. Best
	 * effort: the tabs are logged out already. It holds the slot until it answers (up to the same
	 * hard cap as a refresh): refreshes wait for it (see #refresh), so none presents the
	 * credential it is ending.
	 */
	#endAtServer(refreshToken: () => string | undefined, key: Prover | undefined): void {
		const logout = this.#options.refresh.logout
		if (logout === undefined) return
		const call = () => this.#present('logout', logout, refreshToken(), key)
		const work = this.#sessionWork()
		const ending: Promise<void> = (work.length === 0 ? call() : Promise.allSettled(work).then(call))
			.then(
				() => this.#emit({ type: 'server-logout', outcome: 'ok' }),
				(error: unknown) => this.#emit({ type: 'server-logout', outcome: 'failed', error: messageOf(error) }),
			)
			.finally(() => this.#serverLogouts.delete(ending))
		this.#serverLogouts.add(ending)
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
