import { afterEach, describe, expect, it, vi } from 'vitest'
import { BrokerCore, DEFAULT_REFRESH_TIMEOUT_MS, type BrokerCoreOptions, type BrokerEvent, type SessionStore } from '../../src/core/broker-core.js'
import { LoggedOutError } from '../../src/core/errors/logged-out-error.js'
import { LoginFailedError } from '../../src/core/errors/login-failed-error.js'
import { RefreshRejectedError } from '../../src/core/errors/refresh-rejected-error.js'
import { RefreshUnavailableError } from '../../src/core/errors/refresh-unavailable-error.js'
import type { RefreshContext } from '../../src/core/refresh-function.js'
import type { BrokerBroadcast, BrokerRequest, ExchangeRequest, SessionState, TokenSet, TokenSnapshot } from '../../src/core/protocol.js'
import { type Deferred, deferred, flush, jwt, track } from './helpers.js'

const ORIGIN = 'https://app.test'
const T0 = 1_700_000_000_000

interface Harness {
	core: BrokerCore
	/** Every call of the refresh function, in order, with the deferred that answers it. */
	calls: Array<{ context: RefreshContext; answer: Deferred<TokenSet> }>
	refresh: ReturnType<typeof vi.fn>
	exchange: ReturnType<typeof vi.fn>
	broadcasts: BrokerBroadcast[]
	clock: { now: number }
	handle(request: BrokerRequest): Promise<TokenSnapshot>
	refreshWith(failedToken: string | null): Promise<TokenSnapshot>
	login(tokens: TokenSet): Promise<TokenSnapshot>
	logouts(): Array<Extract<BrokerBroadcast, { type: 'logout' }>>
	tokens(): Array<Extract<BrokerBroadcast, { type: 'token' }>>
}

function harness(options: Partial<BrokerCoreOptions> = {}): Harness {
	const clock = { now: T0 }
	const calls: Harness['calls'] = []
	const refresh = vi.fn((context: RefreshContext) => {
		const answer = deferred<TokenSet>()
		calls.push({ context, answer })
		return answer.promise
	})
	const exchange = vi.fn(async (_request: ExchangeRequest, _signal: AbortSignal): Promise<TokenSet> => ({ accessToken: 'exchanged', refreshToken: 'exchanged-refresh' }))
	const broadcasts: BrokerBroadcast[] = []
	const core = new BrokerCore({
		refresh,
		exchange,
		exchangeUrls: (url) => url.origin === ORIGIN,
		origin: ORIGIN,
		broadcast: (message) => broadcasts.push(message),
		now: () => clock.now,
		random: () => 0.5,
		...options,
	})
	const handle = (request: BrokerRequest) => core.handle(request)
	return {
		core,
		calls,
		refresh,
		exchange,
		broadcasts,
		clock,
		handle,
		refreshWith: (failedToken) => handle({ type: 'refresh', failedToken }),
		login: (tokens) => handle({ type: 'login', tokens }),
		logouts: () => broadcasts.filter((b): b is Extract<BrokerBroadcast, { type: 'logout' }> => b.type === 'logout'),
		tokens: () => broadcasts.filter((b): b is Extract<BrokerBroadcast, { type: 'token' }> => b.type === 'token'),
	}
}

/** Waits until the refresh function has been called `count` times. */
async function refreshCalled(h: Harness, count: number): Promise<void> {
	await vi.waitFor(() => expect(h.refresh).toHaveBeenCalledTimes(count), { timeout: 1000, interval: 1 })
}

/** Waits for the `count`-th call of the refresh function, answers it with `tokens`, and returns what it was called with. */
async function answerRefresh(h: Harness, count: number, tokens: TokenSet): Promise<RefreshContext> {
	await refreshCalled(h, count)
	h.calls[count - 1]!.answer.resolve(tokens)
	return h.calls[count - 1]!.context
}

/** Waits for the `count`-th call of the refresh function, fails it with `error`, and returns what it was called with. */
async function failRefresh(h: Harness, count: number, error: unknown): Promise<RefreshContext> {
	await refreshCalled(h, count)
	h.calls[count - 1]!.answer.reject(error)
	return h.calls[count - 1]!.context
}

afterEach(() => {
	vi.useRealTimers()
})

describe('BrokerCore single-flight refresh', () => {
	it('N concurrent refreshes with the same failed token cause exactly one refresh call and all get the new token', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const waiters = Array.from({ length: 10 }, () => h.refreshWith('A1'))
		await refreshCalled(h, 1)
		// Latecomers that arrive while the refresh runs join it too.
		const late = Array.from({ length: 5 }, () => h.refreshWith('A1'))
		await flush()
		expect(h.refresh).toHaveBeenCalledTimes(1)
		h.calls[0]!.answer.resolve({ accessToken: 'A2', refreshToken: 'R2' })
		const results = await Promise.all([...waiters, ...late])
		expect(h.refresh).toHaveBeenCalledTimes(1)
		for (const result of results) expect(result.accessToken).toBe('A2')
		expect(new Set(results.map((r) => r.generation)).size).toBe(1)
		expect(h.tokens().map((b) => b.snapshot.accessToken)).toEqual(['A1', 'A2'])
		expect(h.core.snapshot().accessToken).toBe('A2')
	})

	it('a refresh after the previous one settled is a new refresh (single-flight is not "refresh once ever")', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const first = h.refreshWith('A1')
		await answerRefresh(h, 1, { accessToken: 'A2' })
		await first
		const second = h.refreshWith('A2')
		await answerRefresh(h, 2, { accessToken: 'A3' })
		expect((await second).accessToken).toBe('A3')
	})

	it('a refresh with a stale failed token returns the current token without calling refresh', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const snapshot = await h.refreshWith('A0-older')
		expect(snapshot.accessToken).toBe('A1')
		// A tab that held no token yet also just gets the current one.
		expect((await h.refreshWith(null)).accessToken).toBe('A1')
		await flush()
		expect(h.refresh).not.toHaveBeenCalled()
		expect(h.tokens()).toHaveLength(1)
	})

	it('passes the rotated refresh token to the next refresh, and keeps it when an answer has none', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })

		const first = h.refreshWith('A1')
		expect((await answerRefresh(h, 1, { accessToken: 'A2', refreshToken: 'R2' })).refreshToken).toBe('R1')
		await first

		const second = h.refreshWith('A2')
		expect((await answerRefresh(h, 2, { accessToken: 'A3' })).refreshToken).toBe('R2')
		await second

		const third = h.refreshWith('A3')
		expect((await answerRefresh(h, 3, { accessToken: 'A4' })).refreshToken).toBe('R2')
		await third
	})

	it('never hands the refresh token out: not in replies, not in broadcasts', async () => {
		const h = harness()
		const replies: TokenSnapshot[] = []
		replies.push(await h.login({ accessToken: 'A1', refreshToken: 'secret-R1' }))
		const refreshed = h.refreshWith('A1')
		await answerRefresh(h, 1, { accessToken: 'A2', refreshToken: 'secret-R2' })
		replies.push(await refreshed)
		replies.push(await h.handle({ type: 'hello' }))
		replies.push(await h.handle({ type: 'ping' }))
		const everything = JSON.stringify([replies, h.broadcasts])
		expect(everything).not.toContain('secret-R')
		expect(everything).not.toContain('refreshToken')
	})

	it('a refresh without any session (empty broker, not logged out) calls refresh without a refresh token', async () => {
		const h = harness()
		const pending = h.refreshWith('A-from-a-tab')
		await refreshCalled(h, 1)
		expect(h.calls[0]!.context.refreshToken).toBeUndefined()
		expect('refreshToken' in h.calls[0]!.context).toBe(false)
		expect(h.calls[0]!.context.signal).toBeInstanceOf(AbortSignal)
		h.calls[0]!.answer.resolve({ accessToken: 'cookie-A1' })
		expect((await pending).accessToken).toBe('cookie-A1')
	})
})

describe('BrokerCore definitive refresh failure', () => {
	it('broadcasts one logout, rejects every waiter with LoggedOutError, and refreshes no more until login', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const waiters = Array.from({ length: 6 }, () => track(h.refreshWith('A1')))
		await failRefresh(h, 1, new RefreshRejectedError('invalid_grant'))
		await Promise.all(waiters.map((w) => w.done))
		for (const waiter of waiters) {
			expect(waiter.error).toBeInstanceOf(LoggedOutError)
			expect((waiter.error as LoggedOutError).reason).toBe('refresh-rejected')
		}
		expect(h.logouts()).toHaveLength(1)
		expect(h.logouts()[0]).toMatchObject({ type: 'logout', reason: 'refresh-rejected' })
		expect(h.logouts()[0]!.tab).toBeUndefined()
		expect(h.core.snapshot().accessToken).toBeNull()

		// No further refresh: not with the old token, not with none, not after time passes.
		h.clock.now += 3_600_000
		for (const failed of ['A1', null, 'whatever']) {
			const error = await h.refreshWith(failed).catch((e: unknown) => e)
			expect(error).toBeInstanceOf(LoggedOutError)
			expect((error as LoggedOutError).reason).toBe('refresh-rejected')
		}
		await flush()
		expect(h.refresh).toHaveBeenCalledTimes(1)
		expect(h.logouts()).toHaveLength(1)

		// The next login opens the session again.
		await h.login({ accessToken: 'B1', refreshToken: 'RB1' })
		const again = h.refreshWith('B1')
		expect((await answerRefresh(h, 2, { accessToken: 'B2' })).refreshToken).toBe('RB1')
		expect((await again).accessToken).toBe('B2')
	})

	it("passes the 'no-refresh-credentials' reason through to the broadcast and the waiters", async () => {
		const h = harness({
			refresh: vi.fn(async (context: RefreshContext): Promise<TokenSet> => {
				if (context.refreshToken === undefined) throw new RefreshRejectedError('no refresh token', { reason: 'no-refresh-credentials' })
				return { accessToken: 'unexpected' }
			}),
		})
		await h.login({ accessToken: 'A1' })
		const error = await h.refreshWith('A1').catch((e: unknown) => e)
		expect(error).toBeInstanceOf(LoggedOutError)
		expect((error as LoggedOutError).reason).toBe('no-refresh-credentials')
		expect(h.logouts()).toEqual([expect.objectContaining({ type: 'logout', reason: 'no-refresh-credentials' })])
		const later = await h.refreshWith(null).catch((e: unknown) => e)
		expect((later as LoggedOutError).reason).toBe('no-refresh-credentials')
	})

	it.each(['invalid_client', 'unauthorized_client'])('%s ends the session and logs the configuration problem to the console, once per occurrence', async (oauthError) => {
		const consoleError = vi.spyOn(console, 'error').mockImplementation(() => undefined)
		try {
			const h = harness()
			await h.login({ accessToken: 'A1', refreshToken: 'R1' })
			const waiters = Array.from({ length: 3 }, () => track(h.refreshWith('A1')))
			await failRefresh(h, 1, new RefreshRejectedError(`refused (400 ${oauthError})`, { status: 400, oauthError }))
			await Promise.all(waiters.map((w) => w.done))
			for (const waiter of waiters) expect((waiter.error as LoggedOutError).reason).toBe('refresh-rejected')
			expect(h.logouts()).toHaveLength(1)
			expect(consoleError).toHaveBeenCalledTimes(1)
			expect(String(consoleError.mock.calls[0]![0])).toContain(oauthError)
			// An invalid_grant is the user's session ending, not a configuration problem: no console error.
			await h.login({ accessToken: 'B1', refreshToken: 'RB1' })
			const next = track(h.refreshWith('B1'))
			await failRefresh(h, 2, new RefreshRejectedError('refused (400 invalid_grant)', { status: 400, oauthError: 'invalid_grant' }))
			await next.done
			expect(consoleError).toHaveBeenCalledTimes(1)
		} finally {
			consoleError.mockRestore()
		}
	})

	it('a definitive failure of a refresh that a login overtook does not end the new session', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const pending = h.refreshWith('A1')
		await refreshCalled(h, 1)
		await h.login({ accessToken: 'B1', refreshToken: 'RB1' })
		h.calls[0]!.answer.reject(new RefreshRejectedError('the old refresh token was revoked'))
		expect((await pending).accessToken).toBe('B1')
		expect(h.logouts()).toHaveLength(0)
		expect(h.core.snapshot().accessToken).toBe('B1')
	})
})

/** A harness on fake time: the core's clock and its timers move together, only by advance(). */
function timed(options: Partial<BrokerCoreOptions> = {}): Harness & { events: BrokerEvent[] } {
	vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: T0 })
	const events: BrokerEvent[] = []
	return { ...harness({ now: () => Date.now(), onEvent: (event) => events.push(event), ...options }), events }
}

const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms)

/** Starts a refresh with `failedToken`, fails its (count-th) call with `error`, and returns how the request ended. */
async function failedAttempt(h: Harness, count: number, error: unknown, failedToken = 'A1'): Promise<unknown> {
	const attempt = track(h.refreshWith(failedToken))
	await advance(0)
	expect(h.calls).toHaveLength(count)
	h.calls[count - 1]!.answer.reject(error)
	await attempt.done
	return attempt.error
}

describe('BrokerCore transient refresh failure', () => {
	it('rejects every waiter with RefreshUnavailableError carrying the cause and when the next attempt is due, keeps the session, and says so in a backoff event', async () => {
		const h = timed()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const waiters = Array.from({ length: 3 }, () => track(h.refreshWith('A1')))
		await advance(100)
		const offline = new TypeError('Failed to fetch')
		h.calls[0]!.answer.reject(offline)
		await Promise.all(waiters.map((w) => w.done))
		// random() = 0.5: the wait is 2 s + 0.5 · 3 s.
		for (const waiter of waiters) {
			expect(waiter.error).toBeInstanceOf(RefreshUnavailableError)
			expect((waiter.error as Error).cause).toBe(offline)
			expect((waiter.error as RefreshUnavailableError).retryAt).toBe(T0 + 100 + 3_500)
		}
		expect(h.events).toContainEqual({ type: 'backoff', retryAt: T0 + 3_600, delayMs: 3_500, failures: 1 })
		expect(h.logouts()).toHaveLength(0)
		expect(h.core.snapshot().accessToken).toBe('A1')
		expect(h.calls).toHaveLength(1)
	})

	it('a RefreshUnavailableError thrown by the refresh function reaches the waiters with its detail, status and Retry-After, and is their cause', async () => {
		const h = timed()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const unavailable = new RefreshUnavailableError('the token endpoint answered 503', { status: 503, retryAfterMs: 8_000 })
		const error = (await failedAttempt(h, 1, unavailable)) as RefreshUnavailableError
		expect(error.cause).toBe(unavailable)
		expect(error.message).toContain('the token endpoint answered 503')
		expect(error).toMatchObject({ status: 503, retryAfterMs: 8_000, retryAt: T0 + 8_000 })
	})

	it('a request arriving while the broker waits joins the next attempt when it is due within its time limit: one call for all of them', async () => {
		const h = timed()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		await failedAttempt(h, 1, new Error('down'))
		const waiters: Array<ReturnType<typeof track<TokenSnapshot>>> = []
		for (let i = 0; i < 6; i++) {
			waiters.push(track(h.refreshWith('A1')))
			await advance(500)
		}
		// 3 s passed of the 3.5 s wait: nobody was refused, and no call went out early.
		expect(waiters.every((w) => !w.settled)).toBe(true)
		expect(h.calls).toHaveLength(1)
		await advance(499)
		expect(h.calls).toHaveLength(1)
		await advance(1)
		expect(h.calls).toHaveLength(2)
		expect(h.calls[1]!.context.refreshToken).toBe('R1')
		h.calls[1]!.answer.resolve({ accessToken: 'A2', refreshToken: 'R2' })
		await Promise.all(waiters.map((w) => w.done))
		for (const waiter of waiters) expect(waiter.value?.accessToken).toBe('A2')
		expect(h.calls).toHaveLength(2)
	})

	it('a request whose time limit ends before the next attempt is refused at once, saying when it is due, and causes no call', async () => {
		const h = timed()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		await failedAttempt(h, 1, new Error('down'))
		await advance(1_000)
		// Due right at its limit: the attempt could not answer within it.
		const refused = await h.handle({ type: 'refresh', failedToken: 'A1', waitMs: 2_500 }).catch((e: unknown) => e)
		expect(refused).toBeInstanceOf(RefreshUnavailableError)
		expect((refused as RefreshUnavailableError).retryAt).toBe(T0 + 3_500)
		expect((refused as Error).message).toMatch(/due in 2500 ms/)
		const joined = track(h.handle({ type: 'refresh', failedToken: 'A1', waitMs: 3_000 }))
		await advance(2_500)
		expect(h.calls).toHaveLength(2)
		h.calls[1]!.answer.resolve({ accessToken: 'A2' })
		await joined.done
		expect(joined.value?.accessToken).toBe('A2')
	})

	it('without waitMs a request waits as long as refreshTimeoutMs; waitMs is clamped to the protocol maximum', async () => {
		const h = timed({ refreshTimeoutMs: 3_000 })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		await failedAttempt(h, 1, new Error('down'))
		expect(await h.refreshWith('A1').catch((e: unknown) => e)).toBeInstanceOf(RefreshUnavailableError)
		expect(h.calls).toHaveLength(1)

		// A Retry-After of 60 s: a waitMs beyond the protocol's 60 s counts as 60 s, so the request is refused.
		const long = timed()
		await long.login({ accessToken: 'A1', refreshToken: 'R1' })
		await failedAttempt(long, 1, new RefreshUnavailableError('503', { retryAfterMs: 60_000 }))
		expect(await long.handle({ type: 'refresh', failedToken: 'A1', waitMs: 1e12 }).catch((e: unknown) => e)).toBeInstanceOf(RefreshUnavailableError)
		await advance(1)
		const joined = track(long.handle({ type: 'refresh', failedToken: 'A1', waitMs: 1e12 }))
		await advance(59_999)
		expect(long.calls).toHaveLength(2)
		long.calls[1]!.answer.resolve({ accessToken: 'A2' })
		await joined.done
		expect(joined.value?.accessToken).toBe('A2')
	})

	it.each([
		[0, 2_000],
		[1, 5_000],
	])('the wait between attempts is never shorter than 2 s nor longer than 5 s (random() = %d: %d ms)', async (random, wait) => {
		const h = timed({ random: () => random })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		await failedAttempt(h, 1, new Error('down'))
		await advance(wait - 1)
		const early = await h.handle({ type: 'refresh', failedToken: 'A1', waitMs: 0 }).catch((e: unknown) => e)
		expect((early as RefreshUnavailableError).retryAt).toBe(T0 + wait)
		await advance(1)
		const onTime = track(h.handle({ type: 'refresh', failedToken: 'A1', waitMs: 1 }))
		await advance(0)
		expect(h.calls).toHaveLength(2)
		h.calls[1]!.answer.resolve({ accessToken: 'A2' })
		await onTime.done
		expect(onTime.value?.accessToken).toBe('A2')
	})

	it('a failing endpoint sees at most one attempt per 2 s however many requests arrive, and a request made once it heals gets through within 5 s', async () => {
		let random = 0
		const h = timed({ random: () => (random = (random + 0.37) % 1) })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const requests: Array<ReturnType<typeof track<TokenSnapshot>>> = []
		for (let t = 0; t < 60_000; t += 250) {
			requests.push(track(h.refreshWith('A1')))
			await advance(0)
			for (const call of h.calls) call.answer.reject(new Error('503'))
			await advance(250)
		}
		const starts = h.refresh.mock.invocationCallOrder.length
		expect(starts).toBeLessThanOrEqual(60_000 / 2_000 + 1)
		expect(starts).toBeGreaterThanOrEqual(60_000 / 5_000)
		// The endpoint heals now: a request made now waits for the next attempt, which succeeds.
		const healed = track(h.refreshWith('A1'))
		for (let t = 0; t <= 5_000 && !healed.settled; t += 10) {
			await advance(10)
			h.calls.at(-1)!.answer.resolve({ accessToken: 'A2' })
		}
		await healed.done
		expect(healed.value?.accessToken).toBe('A2')
		await Promise.all(requests.map((r) => r.done))
		expect(h.logouts()).toHaveLength(0)
	})

	it('Retry-After on the failure lengthens the wait, at most to 60 s', async () => {
		const h = timed()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		await failedAttempt(h, 1, new RefreshUnavailableError('503', { status: 503, retryAfterMs: 120_000 }))
		expect(h.events).toContainEqual({ type: 'backoff', retryAt: T0 + 60_000, delayMs: 60_000, failures: 1, retryAfterMs: 120_000 })
		await advance(59_999)
		expect(((await h.handle({ type: 'refresh', failedToken: 'A1', waitMs: 0 }).catch((e: unknown) => e)) as RefreshUnavailableError).retryAt).toBe(T0 + 60_000)
		const joined = track(h.refreshWith('A1'))
		await advance(1)
		expect(h.calls).toHaveLength(2)
		h.calls[1]!.answer.resolve({ accessToken: 'A2' })
		await joined.done
		expect(joined.value?.accessToken).toBe('A2')
	})

	it('a resume makes the wait start over: the next attempt is allowed now (a waiting one moves up), at least 1 s after the last one started', async () => {
		const h = timed({ random: () => 1 })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		await failedAttempt(h, 1, new Error('down'))
		const waiter = track(h.refreshWith('A1'))
		await advance(400)
		await h.handle({ type: 'resume' })
		// Not before 1 s after the failed attempt started: every tab sends resume at once on `online`.
		expect(h.events.at(-1)).toEqual({ type: 'backoff', retryAt: T0 + 1_000, delayMs: 600, failures: 0 })
		await advance(599)
		expect(h.calls).toHaveLength(1)
		await advance(1)
		expect(h.calls).toHaveLength(2)
		h.calls[1]!.answer.reject(new Error('still down'))
		await waiter.done
		expect(waiter.error).toBeInstanceOf(RefreshUnavailableError)

		// Long after the last attempt started, a resume allows one at once.
		await advance(3_000)
		await h.handle({ type: 'resume' })
		const now = track(h.handle({ type: 'refresh', failedToken: 'A1', waitMs: 1 }))
		await advance(0)
		expect(h.calls).toHaveLength(3)
		h.calls[2]!.answer.resolve({ accessToken: 'A2' })
		await now.done
		expect(now.value?.accessToken).toBe('A2')
	})

	it('a resume does not cut a Retry-After short, and changes nothing when no wait is running', async () => {
		const h = timed()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const before = h.events.length
		await h.handle({ type: 'resume' })
		expect(h.events).toHaveLength(before)
		await failedAttempt(h, 1, new RefreshUnavailableError('429', { status: 429, retryAfterMs: 20_000 }))
		await advance(5_000)
		await h.handle({ type: 'resume' })
		const refused = await h.handle({ type: 'refresh', failedToken: 'A1', waitMs: 1_000 }).catch((e: unknown) => e)
		expect((refused as RefreshUnavailableError).retryAt).toBe(T0 + 20_000)
		expect(h.calls).toHaveLength(1)
	})

	it('requests waiting for a scheduled attempt learn of a login or a logout at once, and the attempt does not go out', async () => {
		const h = timed()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		await failedAttempt(h, 1, new Error('down'))
		const beforeLogin = track(h.refreshWith('A1'))
		await advance(100)
		await h.login({ accessToken: 'B1', refreshToken: 'RB1' })
		await advance(0)
		expect(beforeLogin.value?.accessToken).toBe('B1')

		// The login cleared the backoff; fail again to have a wait, then log out during it.
		await failedAttempt(h, 2, new Error('down'), 'B1')
		const beforeLogout = track(h.refreshWith('B1'))
		await advance(100)
		expect(h.core.busy).toBe(true)
		await h.handle({ type: 'logout', tab: 't' })
		await advance(0)
		expect(beforeLogout.error).toBeInstanceOf(LoggedOutError)
		await advance(10_000)
		expect(h.calls).toHaveLength(2)
		expect(h.core.busy).toBe(false)
	})

	it('idle() waits for a scheduled attempt: a version hand-over must not leave one behind', async () => {
		const h = timed()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		await failedAttempt(h, 1, new Error('down'))
		track(h.refreshWith('A1'))
		await advance(0)
		const idle = track(h.core.idle())
		await advance(3_499)
		expect(idle.settled).toBe(false)
		await advance(1)
		h.calls[1]!.answer.resolve({ accessToken: 'A2' })
		await advance(0)
		expect(idle.settled).toBe(true)
	})

	it('a stale failed token is answered with the current token even while backing off', async () => {
		const h = timed()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		await failedAttempt(h, 1, new Error('down'))
		expect((await h.refreshWith('A0')).accessToken).toBe('A1')
		expect(h.calls).toHaveLength(1)
	})

	it('a success clears the backoff: the next failure-free request goes out at once', async () => {
		const h = timed()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		await failedAttempt(h, 1, new Error('down'))
		await advance(3_500)
		const retried = track(h.refreshWith('A1'))
		await advance(0)
		h.calls[1]!.answer.resolve({ accessToken: 'A2' })
		await retried.done
		const next = track(h.handle({ type: 'refresh', failedToken: 'A2', waitMs: 1 }))
		await advance(0)
		expect(h.calls).toHaveLength(3)
		h.calls[2]!.answer.resolve({ accessToken: 'A3' })
		await next.done
		expect(next.value?.accessToken).toBe('A3')
	})

	it('login clears the backoff', async () => {
		const h = timed()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		await failedAttempt(h, 1, new Error('down'))
		await h.login({ accessToken: 'B1', refreshToken: 'RB1' })
		const pending = track(h.handle({ type: 'refresh', failedToken: 'B1', waitMs: 1 }))
		await advance(0)
		expect(h.calls).toHaveLength(2)
		h.calls[1]!.answer.resolve({ accessToken: 'B2' })
		await pending.done
		expect(pending.value?.accessToken).toBe('B2')
	})

	it.each([
		['{}', {}],
		["{ accessToken: '' }", { accessToken: '' }],
		['undefined', undefined],
		['a number access token', { accessToken: 42 }],
	])('a refresh function answering %s is a transient failure', async (_label, answer) => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const pending = track(h.refreshWith('A1'))
		await answerRefresh(h, 1, answer as unknown as TokenSet)
		await pending.done
		expect(pending.error).toBeInstanceOf(RefreshUnavailableError)
		expect(h.logouts()).toHaveLength(0)
		expect(h.core.snapshot().accessToken).toBe('A1')
		expect(h.tokens()).toHaveLength(1)
		// The session and its refresh token are intact for the next attempt, once the wait is over.
		h.clock.now += 5_000
		const retry = h.refreshWith('A1')
		expect((await answerRefresh(h, 2, { accessToken: 'A2' })).refreshToken).toBe('R1')
		expect((await retry).accessToken).toBe('A2')
	})

	it('a refresh function that throws synchronously is a transient failure', async () => {
		const h = harness({
			refresh: vi.fn((): Promise<TokenSet> => {
				throw new Error('sync boom')
			}),
		})
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const error = await h.refreshWith('A1').catch((e: unknown) => e)
		expect(error).toBeInstanceOf(RefreshUnavailableError)
		expect(h.logouts()).toHaveLength(0)
	})
})

describe('BrokerCore refresh timeout', () => {
	it('waiters of a hung refresh give up at their limit; the call keeps the slot until the hard cap aborts it, then the backoff applies', async () => {
		const signals: AbortSignal[] = []
		const h = timed({
			refreshTimeoutMs: 500,
			refresh: vi.fn((context: RefreshContext) => {
				signals.push(context.signal)
				return new Promise<TokenSet>(() => undefined)
			}),
		})
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const pending = track(h.refreshWith('A1'))
		await advance(499)
		expect(pending.settled).toBe(false)
		expect(signals).toHaveLength(1)
		await advance(1)
		expect(pending.error).toBeInstanceOf(RefreshUnavailableError)
		expect(h.logouts()).toHaveLength(0)
		expect(h.core.snapshot().accessToken).toBe('A1')

		// The call may still rotate the refresh token at the server: no second call with the old one.
		const joined = track(h.handle({ type: 'refresh', failedToken: 'A1', waitMs: 800 }))
		await advance(0)
		expect(signals).toHaveLength(1)
		expect(signals[0]!.aborted).toBe(false)
		await advance(800)
		expect(joined.error).toBeInstanceOf(RefreshUnavailableError)

		// At three refresh timeouts the call is abandoned and aborted; the next attempt follows the backoff.
		await advance(200)
		expect(signals[0]!.aborted).toBe(true)
		expect(signals[0]!.reason).toBeInstanceOf(RefreshUnavailableError)
		const next = track(h.handle({ type: 'refresh', failedToken: 'A1', waitMs: 5_000 }))
		await advance(3_499)
		expect(signals).toHaveLength(1)
		await advance(1)
		expect(signals).toHaveLength(2)
		await advance(1_500)
		expect(next.error).toBeInstanceOf(RefreshUnavailableError)
	})

	it('a hung call that answers once the endpoint heals serves every request that joined it, at once', async () => {
		const h = timed({ refreshTimeoutMs: 10_000 })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const requests = [] as Array<ReturnType<typeof track<TokenSnapshot>>>
		await advance(1_000)
		for (let i = 0; i < 10; i++) {
			requests.push(track(h.refreshWith('A1')))
			await advance(2_000)
		}
		expect(h.calls).toHaveLength(1)
		// 21 s in, the endpoint heals and answers the call it held.
		h.calls[0]!.answer.resolve({ accessToken: 'A2', refreshToken: 'R2' })
		await advance(0)
		// Those made less than their 10 s before it are served; the earlier ones (1 s … 11 s) had given up.
		expect(requests.map((r) => r.value?.accessToken ?? (r.error as Error).name)).toEqual([...Array.from({ length: 6 }, () => 'RefreshUnavailableError'), ...Array.from({ length: 4 }, () => 'A2')])
		expect(h.core.snapshot().accessToken).toBe('A2')
	})

	it('a late answer after the waiters gave up is kept and broadcast, not lost', async () => {
		vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
		const h = harness({ refreshTimeoutMs: 500 })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const pending = track(h.refreshWith('A1'))
		await vi.advanceTimersByTimeAsync(600)
		await pending.done
		expect(pending.error).toBeInstanceOf(RefreshUnavailableError)
		h.calls[0]!.answer.resolve({ accessToken: 'A2', refreshToken: 'R2' })
		await vi.advanceTimersByTimeAsync(0)
		expect(h.core.snapshot().accessToken).toBe('A2')
		expect(h.tokens().at(-1)?.snapshot.accessToken).toBe('A2')
		const again = h.refreshWith('A2')
		await vi.advanceTimersByTimeAsync(0)
		expect(h.calls[1]!.context.refreshToken).toBe('R2')
		h.calls[1]!.answer.resolve({ accessToken: 'A3' })
		expect((await again).accessToken).toBe('A3')
	})

	it('defaults to a 10 s refresh timeout', async () => {
		vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
		expect(DEFAULT_REFRESH_TIMEOUT_MS).toBe(10_000)
		const h = harness({ refresh: vi.fn(() => new Promise<TokenSet>(() => undefined)) })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const pending = track(h.refreshWith('A1'))
		await vi.advanceTimersByTimeAsync(9_999)
		expect(pending.settled).toBe(false)
		await vi.advanceTimersByTimeAsync(1)
		await pending.done
		expect(pending.error).toBeInstanceOf(RefreshUnavailableError)
	})

	it('with a tiny real timeout, a hung refresh still settles', async () => {
		let signal: AbortSignal | undefined
		const h = harness({
			refreshTimeoutMs: 20,
			refresh: vi.fn((context: RefreshContext) => {
				signal = context.signal
				return new Promise<TokenSet>(() => undefined)
			}),
		})
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		await expect(h.refreshWith('A1')).rejects.toBeInstanceOf(RefreshUnavailableError)
		await vi.waitFor(() => expect(signal?.aborted).toBe(true), { timeout: 1000, interval: 5 })
	})
})

describe('BrokerCore login and logout during an in-flight refresh', () => {
	it("login wins: the refresh's late result does not overwrite the login's token", async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const pending = h.refreshWith('A1')
		await refreshCalled(h, 1)
		const login = await h.login({ accessToken: 'B1', refreshToken: 'RB1' })
		h.calls[0]!.answer.resolve({ accessToken: 'A2-late', refreshToken: 'R2-late' })
		const result = await pending
		expect(result.accessToken).toBe('B1')
		expect(result.generation).toBe(login.generation)
		expect(h.core.snapshot().accessToken).toBe('B1')
		expect(h.tokens().map((b) => b.snapshot.accessToken)).not.toContain('A2-late')

		// The login's refresh token is the one used next, not the late rotated one.
		const next = h.refreshWith('B1')
		expect((await answerRefresh(h, 2, { accessToken: 'B2' })).refreshToken).toBe('RB1')
		await next
	})

	it('logout wins: waiters get LoggedOutError and the late result does not restore a session', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const waiters = Array.from({ length: 3 }, () => track(h.refreshWith('A1')))
		await refreshCalled(h, 1)
		await h.handle({ type: 'logout', tab: 'tab-1' })
		h.calls[0]!.answer.resolve({ accessToken: 'A2-late' })
		await Promise.all(waiters.map((w) => w.done))
		for (const waiter of waiters) {
			expect(waiter.error).toBeInstanceOf(LoggedOutError)
			expect((waiter.error as LoggedOutError).reason).toBe('user')
		}
		expect(h.core.snapshot().accessToken).toBeNull()
		expect(h.tokens().map((b) => b.snapshot.accessToken)).toEqual(['A1'])
		expect(h.logouts()).toEqual([expect.objectContaining({ type: 'logout', reason: 'user', tab: 'tab-1' })])
		const after = await h.refreshWith('A2-late').catch((e: unknown) => e)
		expect(after).toBeInstanceOf(LoggedOutError)
		expect(h.refresh).toHaveBeenCalledTimes(1)
	})

	it('a transient failure of a refresh that a login overtook gives the waiters the new token', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const pending = h.refreshWith('A1')
		await refreshCalled(h, 1)
		await h.login({ accessToken: 'B1', refreshToken: 'RB1' })
		h.calls[0]!.answer.reject(new Error('offline'))
		expect((await pending).accessToken).toBe('B1')
	})

	it("a seed arriving while a refresh runs does not discard the refresh's new token", async () => {
		// The broker lost its memory (stopped worker) and refreshes with cookie credentials;
		// meanwhile a tab re-seeds the access token it still holds, which is the one that just failed.
		const h = harness()
		const pending = h.refreshWith('A-old')
		await refreshCalled(h, 1)
		await h.handle({ type: 'seed', accessToken: 'A-old', generation: T0 - 10 })
		h.calls[0]!.answer.resolve({ accessToken: 'A-new' })
		const result = await pending
		expect(result.accessToken).toBe('A-new')
		expect(h.core.snapshot().accessToken).toBe('A-new')
	})
})

describe('BrokerCore server logout (RefreshFunction.logout)', () => {
	/** A harness whose refresh function has a server logout answered by hand. */
	function withServerLogout(options: Partial<BrokerCoreOptions> = {}) {
		const logouts: Array<{ context: RefreshContext; answer: Deferred<void> }> = []
		const logout = vi.fn((context: RefreshContext) => {
			const answer = deferred<void>()
			logouts.push({ context, answer })
			return answer.promise
		})
		const calls: Harness['calls'] = []
		const refresh = Object.assign(
			vi.fn((context: RefreshContext) => {
				const answer = deferred<TokenSet>()
				calls.push({ context, answer })
				return answer.promise
			}),
			{ logout },
		)
		const h = harness({ refresh, ...options })
		return { h: { ...h, calls, refresh }, logout, logouts }
	}

	it('a user logout answers once every tab is told, before the server logout has answered; the server logout follows the running refresh and is reported', async () => {
		const events: BrokerEvent[] = []
		const { h, logout, logouts } = withServerLogout({ onEvent: (event) => events.push(event) })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const refreshing = track(h.refreshWith('A1'))
		await refreshCalled(h, 1)
		const loggedOut = await h.handle({ type: 'logout', tab: 't' })
		expect(loggedOut.accessToken).toBeNull()
		expect(h.logouts()).toHaveLength(1)
		// The refresh may still set a rotated cookie: the server logout goes out after it.
		expect(logout).not.toHaveBeenCalled()
		expect(h.core.busy).toBe(true)
		h.calls[0]!.answer.resolve({ accessToken: 'A2-late', refreshToken: 'R2-late' })
		await vi.waitFor(() => expect(logout).toHaveBeenCalledTimes(1), { timeout: 1000, interval: 1 })
		// The refresh rotated R1 into R2-late: that is the token the session now lives on.
		expect(logouts[0]!.context.refreshToken).toBe('R2-late')
		expect(events.filter((e) => e.type === 'server-logout')).toHaveLength(0)
		const idle = track(h.core.idle())
		await flush()
		expect(idle.settled).toBe(false)
		logouts[0]!.answer.resolve()
		await idle.done
		expect(events.filter((e) => e.type === 'server-logout')).toEqual([{ type: 'server-logout', outcome: 'ok' }])
		await refreshing.done
		expect(refreshing.error).toBeInstanceOf(LoggedOutError)
	})

	it('a logout during a refresh revokes the refresh token that refresh rotated to, not the one it started with', async () => {
		const { h, logout, logouts } = withServerLogout()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const refreshing = track(h.refreshWith('A1'))
		await refreshCalled(h, 1)
		await h.handle({ type: 'logout', tab: 't' })
		h.calls[0]!.answer.resolve({ accessToken: 'A2', refreshToken: 'R2' })
		await vi.waitFor(() => expect(logout).toHaveBeenCalledTimes(1), { timeout: 1000, interval: 1 })
		expect(logouts.map(({ context }) => context.refreshToken)).toEqual(['R2'])
		logouts[0]!.answer.resolve()
		await refreshing.done
		// The rotated token ends with the session: it is neither kept nor broadcast.
		expect(h.core.exportState().tokens).toBeNull()
		expect(JSON.stringify(h.broadcasts)).not.toContain('A2')
	})

	it('a logout during a refresh that keeps its refresh token (no rotation) or fails revokes the one held at logout', async () => {
		for (const answer of [{ accessToken: 'A2' }, new RefreshUnavailableError('down')]) {
			const { h, logout, logouts } = withServerLogout()
			await h.login({ accessToken: 'A1', refreshToken: 'R1' })
			const refreshing = track(h.refreshWith('A1'))
			await refreshCalled(h, 1)
			await h.handle({ type: 'logout', tab: 't' })
			if (answer instanceof Error) h.calls[0]!.answer.reject(answer)
			else h.calls[0]!.answer.resolve(answer)
			await vi.waitFor(() => expect(logout).toHaveBeenCalledTimes(1), { timeout: 1000, interval: 1 })
			expect(logouts[0]!.context.refreshToken).toBe('R1')
			logouts[0]!.answer.resolve()
			await refreshing.done
		}
	})

	it('with nothing running, the server logout starts before the logout is broadcast (onLogout may navigate away)', async () => {
		const order: string[] = []
		const { h } = withServerLogout({ broadcast: (message) => order.push(`broadcast ${message.type}`) })
		h.refresh.logout = vi.fn(() => {
			order.push('server logout')
			return new Promise<void>(() => undefined)
		})
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		order.length = 0
		await h.handle({ type: 'logout', tab: 't' })
		expect(order).toEqual(['server logout', 'broadcast logout'])
	})

	it('a failed server logout does not fail the logout and is reported as failed', async () => {
		const events: BrokerEvent[] = []
		const { h, logouts } = withServerLogout({ onEvent: (event) => events.push(event) })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		expect((await h.handle({ type: 'logout', tab: 't' })).accessToken).toBeNull()
		logouts[0]!.answer.reject(new Error('https://idp.test/revoke answered 500'))
		await h.core.idle()
		expect(events.filter((e) => e.type === 'server-logout')).toEqual([{ type: 'server-logout', outcome: 'failed', error: 'https://idp.test/revoke answered 500' }])
	})

	it('a definitive refresh failure does not call it: the server ended the session itself', async () => {
		const { h, logout } = withServerLogout()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const refreshing = h.refreshWith('A1')
		await failRefresh(h, 1, new RefreshRejectedError('invalid_grant'))
		await expect(refreshing).rejects.toBeInstanceOf(LoggedOutError)
		await flush()
		expect(logout).not.toHaveBeenCalled()
	})

	it('a refresh after a new login waits for the server logout, which might otherwise end the credential it presents', async () => {
		const { h, logouts } = withServerLogout()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const loggedOut = h.handle({ type: 'logout', tab: 't' })
		await vi.waitFor(() => expect(logouts).toHaveLength(1), { timeout: 1000, interval: 1 })
		await h.login({ accessToken: 'B1', refreshToken: 'RB1' })
		const refreshing = h.refreshWith('B1')
		await flush()
		expect(h.refresh).not.toHaveBeenCalled()
		expect(h.core.busy).toBe(true)
		logouts[0]!.answer.resolve()
		await loggedOut
		expect((await answerRefresh(h, 1, { accessToken: 'B2' })).refreshToken).toBe('RB1')
		expect((await refreshing).accessToken).toBe('B2')
		expect(h.core.busy).toBe(false)
	})

	it('a hung server logout holds refreshes until the hard cap aborts it, but not the logout', async () => {
		vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
		const { h, logouts } = withServerLogout({ refreshTimeoutMs: 500 })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const loggedOut = track(h.handle({ type: 'logout', tab: 't' }))
		await vi.advanceTimersByTimeAsync(0)
		expect(loggedOut.value?.accessToken).toBeNull()
		await h.login({ accessToken: 'B1', refreshToken: 'RB1' })
		const waiter = track(h.refreshWith('B1'))
		await vi.advanceTimersByTimeAsync(500)
		await waiter.done
		expect(waiter.error).toBeInstanceOf(RefreshUnavailableError)
		expect(h.refresh).not.toHaveBeenCalled()
		await vi.advanceTimersByTimeAsync(999)
		expect(logouts[0]!.context.signal.aborted).toBe(false)
		await vi.advanceTimersByTimeAsync(1)
		expect(logouts[0]!.context.signal.aborted).toBe(true)
		const next = h.refreshWith('B1')
		await vi.advanceTimersByTimeAsync(0)
		expect(h.refresh).toHaveBeenCalledTimes(1)
		h.calls[0]!.answer.resolve({ accessToken: 'B2' })
		expect((await next).accessToken).toBe('B2')
	})
})

describe('BrokerCore generations and expiry', () => {
	it('generation strictly increases on every change and is at least now()', async () => {
		const h = harness()
		const generations: number[] = []
		const record = (snapshot: TokenSnapshot) => {
			expect(snapshot.generation).toBeGreaterThanOrEqual(h.clock.now)
			generations.push(snapshot.generation)
		}
		expect(h.core.snapshot().generation).toBe(0)
		record(await h.login({ accessToken: 'A1', refreshToken: 'R1' }))
		// The clock does not move: still strictly increasing.
		record(await h.login({ accessToken: 'A2', refreshToken: 'R1' }))
		const refreshed = h.refreshWith('A2')
		await answerRefresh(h, 1, { accessToken: 'A3' })
		record(await refreshed)
		h.clock.now += 60_000
		record(await h.handle({ type: 'logout', tab: 't' }))
		record(await h.login({ accessToken: 'A4', refreshToken: 'R4' }))
		// The clock goes back (NTP adjustment): generations still never go back.
		h.clock.now -= 3_600_000
		const g = (await h.login({ accessToken: 'A5' })).generation
		expect(g).toBeGreaterThan(generations.at(-1)!)
		generations.push(g)
		for (let i = 1; i < generations.length; i++) expect(generations[i]!).toBeGreaterThan(generations[i - 1]!)
		// Broadcasts carry the same generations as the replies.
		const broadcastGenerations = h.broadcasts.flatMap((b) => (b.type === 'token' ? [b.snapshot.generation] : b.type === 'logout' ? [b.generation] : []))
		expect(broadcastGenerations).toEqual(generations)
	})

	it('computes expiresAt from expiresIn relative to now()', async () => {
		const h = harness()
		const login = await h.login({ accessToken: 'A1', refreshToken: 'R1', expiresIn: 60 })
		expect(login.expiresAt).toBe(T0 + 60_000)
		expect(login.issuedAt).toBe(T0)
		h.clock.now += 5_000
		const pending = h.refreshWith('A1')
		await refreshCalled(h, 1)
		h.clock.now += 250 // the answer arrives a bit later: counted from receipt
		h.calls[0]!.answer.resolve({ accessToken: 'A2', expiresIn: 30 })
		const refreshed = await pending
		expect(refreshed.expiresAt).toBe(T0 + 5_250 + 30_000)
		expect(refreshed.issuedAt).toBe(T0 + 5_250)
	})

	it('reads expiresAt from a JWT exp claim when neither expiresAt nor expiresIn is given', async () => {
		const h = harness()
		const exp = Math.floor(T0 / 1000) + 300
		const token = jwt({ sub: 'user', exp })
		const snapshot = await h.login({ accessToken: token, refreshToken: 'R1' })
		expect(snapshot.expiresAt).toBe(exp * 1000)
		// expiresIn and expiresAt win over the claim.
		expect((await h.login({ accessToken: token, expiresIn: 10 })).expiresAt).toBe(T0 + 10_000)
		expect((await h.login({ accessToken: token, expiresAt: T0 + 1 })).expiresAt).toBe(T0 + 1)
		// An opaque token without expiry has none.
		expect((await h.login({ accessToken: 'opaque' })).expiresAt).toBeUndefined()
	})
})

describe('BrokerCore seed', () => {
	it('applies only when the broker has no tokens and the session was not ended', async () => {
		const h = harness()
		const seeded = await h.handle({ type: 'seed', accessToken: 'S1', expiresAt: T0 + 30_000, generation: T0 + 500 })
		expect(seeded).toMatchObject({ accessToken: 'S1', expiresAt: T0 + 30_000 })
		expect(seeded.generation).toBeGreaterThanOrEqual(T0 + 500)

		// Tokens held: a second seed changes nothing.
		const ignored = await h.handle({ type: 'seed', accessToken: 'S2', generation: T0 + 10_000 })
		expect(ignored.accessToken).toBe('S1')
		expect(h.core.snapshot().accessToken).toBe('S1')

		// A seeded token is refreshed like any other (without a refresh token: cookie refresh).
		const pending = h.refreshWith('S1')
		expect((await answerRefresh(h, 1, { accessToken: 'S1-refreshed' })).refreshToken).toBeUndefined()
		await pending

		// After a logout, a tab that missed it cannot bring the session back by seeding.
		await h.handle({ type: 'logout', tab: 'x' })
		const afterLogout = await h.handle({ type: 'seed', accessToken: 'S-zombie', generation: Number.MAX_SAFE_INTEGER })
		expect(afterLogout.accessToken).toBeNull()
		expect(h.core.snapshot().accessToken).toBeNull()
	})

	it('does not apply after a definitive refresh failure either', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const pending = track(h.refreshWith('A1'))
		await failRefresh(h, 1, new RefreshRejectedError('revoked'))
		await pending.done
		expect((await h.handle({ type: 'seed', accessToken: 'A1', generation: 1 })).accessToken).toBeNull()
	})
})

describe('BrokerCore persistence (store)', () => {
	function memoryStore(initial?: SessionState) {
		const saved: SessionState[] = []
		const store = {
			load: vi.fn(async () => initial),
			save: vi.fn(async (session: SessionState) => {
				saved.push(structuredClone(session))
			}),
			clear: vi.fn(async () => undefined),
		} satisfies SessionStore
		return { store, saved }
	}

	it('restores tokens and generation from the store, including the refresh token', async () => {
		const { store } = memoryStore({ tokens: { accessToken: 'P1', refreshToken: 'PR1', expiresAt: T0 + 1_000 }, generation: T0 + 99_999, ended: null })
		const h = harness({ store })
		const hello = await h.handle({ type: 'hello' })
		expect(hello).toMatchObject({ accessToken: 'P1', expiresAt: T0 + 1_000, generation: T0 + 99_999 })
		const pending = h.refreshWith('P1')
		expect((await answerRefresh(h, 1, { accessToken: 'P2' })).refreshToken).toBe('PR1')
		expect((await pending).generation).toBeGreaterThan(T0 + 99_999)
	})

	it('restores an ended session as ended: no refresh until the next login', async () => {
		const { store } = memoryStore({ tokens: null, generation: T0 + 5, ended: 'refresh-rejected' })
		const h = harness({ store })
		const error = await h.refreshWith(null).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(LoggedOutError)
		expect((error as LoggedOutError).reason).toBe('refresh-rejected')
		expect(h.refresh).not.toHaveBeenCalled()
	})

	it('answers nothing before the store was read', async () => {
		const load = deferred<SessionState | undefined>()
		const store: SessionStore = { load: () => load.promise, save: async () => undefined, clear: async () => undefined }
		const h = harness({ store })
		const refresh = h.refreshWith('P1')
		await flush()
		expect(h.refresh).not.toHaveBeenCalled()
		load.resolve({ tokens: { accessToken: 'P1', refreshToken: 'PR1' }, generation: T0, ended: null })
		expect((await answerRefresh(h, 1, { accessToken: 'P2' })).refreshToken).toBe('PR1')
		expect((await refresh).accessToken).toBe('P2')
	})

	it('saves on every change and clears on logout', async () => {
		const { store, saved } = memoryStore()
		const h = harness({ store })
		const login = await h.login({ accessToken: 'A1', refreshToken: 'R1', expiresIn: 60 })
		expect(saved).toHaveLength(1)
		expect(saved[0]).toEqual({ tokens: { accessToken: 'A1', refreshToken: 'R1', expiresAt: T0 + 60_000, issuedAt: T0 }, generation: login.generation, ended: null })

		const pending = h.refreshWith('A1')
		await answerRefresh(h, 1, { accessToken: 'A2', refreshToken: 'R2' })
		const refreshed = await pending
		expect(saved).toHaveLength(2)
		expect(saved[1]).toMatchObject({ tokens: { accessToken: 'A2', refreshToken: 'R2' }, generation: refreshed.generation })

		// A stale-token refresh changes nothing and saves nothing.
		await h.refreshWith('A1')
		expect(saved).toHaveLength(2)

		expect(store.clear).not.toHaveBeenCalled()
		await h.handle({ type: 'logout', tab: 't' })
		expect(store.clear).toHaveBeenCalledTimes(1)
		expect(saved).toHaveLength(2)
	})

	it('clears the store on a definitive refresh failure', async () => {
		const { store } = memoryStore()
		const h = harness({ store })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const pending = track(h.refreshWith('A1'))
		await failRefresh(h, 1, new RefreshRejectedError('revoked'))
		await pending.done
		expect(store.clear).toHaveBeenCalledTimes(1)
	})

	it('a failing store neither breaks the broker nor loses the in-memory session', async () => {
		const store: SessionStore = {
			load: () => Promise.reject(new Error('IndexedDB is blocked')),
			save: () => Promise.reject(new Error('quota')),
			clear: () => Promise.reject(new Error('gone')),
		}
		const h = harness({ store })
		expect((await h.handle({ type: 'hello' })).accessToken).toBeNull()
		expect((await h.login({ accessToken: 'A1', refreshToken: 'R1' })).accessToken).toBe('A1')
		expect((await h.handle({ type: 'logout', tab: 't' })).accessToken).toBeNull()
	})
})

describe('BrokerCore state hand-over', () => {
	it('exportState carries the refresh token; importState adopts only a newer session, without broadcasting', async () => {
		const old = harness()
		await old.login({ accessToken: 'A1', refreshToken: 'R1', expiresIn: 60 })
		const state = old.core.exportState()
		expect(state).toMatchObject({ tokens: { accessToken: 'A1', refreshToken: 'R1' }, ended: null })

		const next = harness()
		expect(next.core.importState(structuredClone(state))).toBe(true)
		expect(next.broadcasts).toHaveLength(0)
		expect(next.core.snapshot()).toEqual(old.core.snapshot())
		// The same or an older state changes nothing.
		expect(next.core.importState({ tokens: { accessToken: 'OLD' }, generation: state.generation, ended: null })).toBe(false)
		expect(next.core.snapshot().accessToken).toBe('A1')
		const pending = next.refreshWith('A1')
		await refreshCalled(next, 1)
		expect(next.calls[0]!.context.refreshToken).toBe('R1')
		next.calls[0]!.answer.resolve({ accessToken: 'A2' })
		expect((await pending).generation).toBeGreaterThan(state.generation)
	})
})

describe('BrokerCore exchange', () => {
	it('refuses a URL that exchangeUrls does not allow, without calling exchange and without touching the session', async () => {
		const h = harness()
		const login = await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const broadcastsBefore = h.broadcasts.length
		const error = await h.handle({ type: 'exchange', request: { url: 'https://evil.test/token', body: { code: 'c' } } }).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(LoginFailedError)
		expect((error as Error).message).toContain('https://evil.test')
		expect(h.exchange).not.toHaveBeenCalled()
		expect(h.broadcasts).toHaveLength(broadcastsBefore)
		expect(h.core.snapshot()).toEqual(login)
	})

	it('refuses an invalid URL with LoginFailedError', async () => {
		const h = harness()
		const error = await h.handle({ type: 'exchange', request: { url: 'http://[broken', body: {} } }).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(LoginFailedError)
		expect(h.exchange).not.toHaveBeenCalled()
	})

	it('wraps a failing exchange function in LoginFailedError and keeps the session', async () => {
		const failure = new TypeError('Failed to fetch')
		const h = harness({ exchange: vi.fn(() => Promise.reject(failure)) })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const error = await h.handle({ type: 'exchange', request: { url: '/oauth/token', body: { code: 'c' } } }).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(LoginFailedError)
		expect((error as Error).cause).toBe(failure)
		expect(h.core.snapshot().accessToken).toBe('A1')
		expect(h.logouts()).toHaveLength(0)
	})

	it('passes a LoginFailedError from the exchange function through with its status and OAuth error', async () => {
		const refused = new LoginFailedError('refused', { status: 400, oauthError: 'invalid_grant' })
		const h = harness({ exchange: vi.fn(() => Promise.reject(refused)) })
		const error = await h.handle({ type: 'exchange', request: { url: '/oauth/token', body: { code: 'c' } } }).catch((e: unknown) => e)
		expect(error).toBe(refused)
	})

	it('an exchange that hangs fails with LoginFailedError after the timeout', async () => {
		let signal: AbortSignal | undefined
		const h = harness({
			refreshTimeoutMs: 20,
			exchange: vi.fn((_request: ExchangeRequest, s: AbortSignal) => {
				signal = s
				return new Promise<TokenSet>(() => undefined)
			}),
		})
		await expect(h.handle({ type: 'exchange', request: { url: '/oauth/token', body: {} } })).rejects.toBeInstanceOf(LoginFailedError)
		expect(signal?.aborted).toBe(true)
	})

	it('on success resolves relative URLs against the origin, keeps the refresh token inside, broadcasts the token, and reopens an ended session', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		await h.handle({ type: 'logout', tab: 't' })
		const snapshot = await h.handle({ type: 'exchange', request: { url: '/oauth/token?x=1', body: { grant_type: 'authorization_code', code: 'c' }, headers: { 'x-a': 'b' } } })
		expect(h.exchange).toHaveBeenCalledTimes(1)
		const [request, signal] = h.exchange.mock.calls[0] as [ExchangeRequest, AbortSignal]
		expect(request).toEqual({ url: `${ORIGIN}/oauth/token?x=1`, body: { grant_type: 'authorization_code', code: 'c' }, headers: { 'x-a': 'b' } })
		expect(signal).toBeInstanceOf(AbortSignal)
		expect(snapshot.accessToken).toBe('exchanged')
		expect(h.tokens().at(-1)?.snapshot).toEqual(snapshot)
		expect(JSON.stringify([snapshot, h.broadcasts])).not.toContain('exchanged-refresh')

		// The session is open again and refreshes with the exchanged refresh token.
		const pending = h.refreshWith('exchanged')
		expect((await answerRefresh(h, 1, { accessToken: 'E2' })).refreshToken).toBe('exchanged-refresh')
		expect((await pending).accessToken).toBe('E2')
	})
})

describe('BrokerCore offline', () => {
	it('does not call the refresh endpoint while offline, refuses at once, and clears the backoff once back online', async () => {
		const network = { online: true }
		const h = timed({ isOnline: () => network.online })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		await failedAttempt(h, 1, new TypeError('Failed to fetch'))
		// A request waiting for the scheduled attempt is refused when it comes due offline.
		const waiting = track(h.refreshWith('A1'))
		await advance(0)
		network.online = false
		await advance(3_500)
		expect(waiting.error).toBeInstanceOf(RefreshUnavailableError)
		expect((waiting.error as Error).message).toMatch(/offline/)
		await expect(h.refreshWith('A1')).rejects.toThrow(/offline/)
		expect(h.calls).toHaveLength(1)
		expect(h.logouts()).toHaveLength(0)

		// Back online, failures from before say nothing about the endpoint: an attempt goes out at once.
		network.online = true
		await failedAttempt(h, 2, new TypeError('Failed to fetch'))
		network.online = false
		await expect(h.refreshWith('A1')).rejects.toThrow(/offline/)
		network.online = true
		const retried = track(h.handle({ type: 'refresh', failedToken: 'A1', waitMs: 1 }))
		await advance(0)
		expect(h.calls).toHaveLength(3)
		h.calls[2]!.answer.resolve({ accessToken: 'A2' })
		await retried.done
		expect(retried.value?.accessToken).toBe('A2')
	})
})

describe('BrokerCore acceptLogin: false', () => {
	it('refuses login(tokens) with LoginFailedError and keeps the session as it was; exchange() still signs in', async () => {
		const h = harness({ acceptLogin: false })
		const error = await h.login({ accessToken: 'INJECTED', refreshToken: 'INJECTED-R' }).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(LoginFailedError)
		expect((error as Error).message).toMatch(/acceptLogin/)
		expect(h.core.exportState().tokens).toBeNull()
		expect(h.tokens()).toEqual([])

		await h.handle({ type: 'exchange', request: { url: `${ORIGIN}/oauth/token`, body: { code: 'c' } } })
		const signedIn = h.core.exportState()
		await expect(h.login({ accessToken: 'INJECTED' })).rejects.toBeInstanceOf(LoginFailedError)
		expect(h.core.exportState()).toEqual(signedIn)
		expect(h.tokens().map((t) => t.snapshot.accessToken)).toEqual(['exchanged'])
	})
})
