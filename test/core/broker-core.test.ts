import { afterEach, describe, expect, it, vi } from 'vitest'
import { BrokerCore, DEFAULT_REFRESH_TIMEOUT_MS, type BrokerCoreOptions, type SessionStore } from '../../src/core/broker-core.js'
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

describe('BrokerCore transient refresh failure and backoff', () => {
	it('rejects with RefreshUnavailableError carrying the cause, keeps the session, and retries at once the first time', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const waiters = Array.from({ length: 3 }, () => track(h.refreshWith('A1')))
		await refreshCalled(h, 1)
		const offline = new TypeError('Failed to fetch')
		h.calls[0]!.answer.reject(offline)
		await Promise.all(waiters.map((w) => w.done))
		for (const waiter of waiters) {
			expect(waiter.error).toBeInstanceOf(RefreshUnavailableError)
			expect((waiter.error as Error).cause).toBe(offline)
		}
		expect(h.logouts()).toHaveLength(0)
		expect(h.core.snapshot().accessToken).toBe('A1')

		// The next request tries again immediately, with the same refresh token.
		const retry = h.refreshWith('A1')
		expect((await answerRefresh(h, 2, { accessToken: 'A2' })).refreshToken).toBe('R1')
		expect((await retry).accessToken).toBe('A2')
	})

	it('a RefreshUnavailableError thrown by the refresh function reaches the waiters as it is', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const pending = track(h.refreshWith('A1'))
		await refreshCalled(h, 1)
		const unavailable = new RefreshUnavailableError('503')
		h.calls[0]!.answer.reject(unavailable)
		await pending.done
		expect(pending.error).toBe(unavailable)
	})

	it('after the second consecutive failure refuses at once without calling refresh, until the backoff passed', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })

		const first = track(h.refreshWith('A1'))
		await failRefresh(h, 1, new Error('down'))
		await first.done

		const second = track(h.refreshWith('A1'))
		await failRefresh(h, 2, new Error('down'))
		await second.done
		expect(second.error).toBeInstanceOf(RefreshUnavailableError)

		// random() = 0.5: the wait is 1000 ms · (0.5 + 0.25) = 750 ms.
		const refused = await h.refreshWith('A1').catch((e: unknown) => e)
		expect(refused).toBeInstanceOf(RefreshUnavailableError)
		h.clock.now += 749
		const stillRefused = await h.refreshWith('A1').catch((e: unknown) => e)
		expect(stillRefused).toBeInstanceOf(RefreshUnavailableError)
		await flush()
		expect(h.refresh).toHaveBeenCalledTimes(2)
		expect(h.logouts()).toHaveLength(0)

		h.clock.now += 1
		const third = track(h.refreshWith('A1'))
		await failRefresh(h, 3, new Error('still down'))
		await third.done
		expect(third.error).toBeInstanceOf(RefreshUnavailableError)

		// Third failure in a row: the wait doubles (2000 ms · 0.75 = 1500 ms).
		h.clock.now += 1499
		expect(await h.refreshWith('A1').catch((e: unknown) => e)).toBeInstanceOf(RefreshUnavailableError)
		await flush()
		expect(h.refresh).toHaveBeenCalledTimes(3)
		h.clock.now += 1
		const fourth = h.refreshWith('A1')
		await answerRefresh(h, 4, { accessToken: 'A2' })
		expect((await fourth).accessToken).toBe('A2')

		// A success resets the count: the next failure again allows an immediate retry.
		const fifth = track(h.refreshWith('A2'))
		await failRefresh(h, 5, new Error('blip'))
		await fifth.done
		const sixth = h.refreshWith('A2')
		await answerRefresh(h, 6, { accessToken: 'A3' })
		expect((await sixth).accessToken).toBe('A3')
	})

	it('a stale failed token is answered with the current token even while backing off', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		for (let i = 0; i < 2; i++) {
			const attempt = track(h.refreshWith('A1'))
			await failRefresh(h, i + 1, new Error('down'))
			await attempt.done
		}
		expect((await h.refreshWith('A0')).accessToken).toBe('A1')
	})

	it('login clears the backoff', async () => {
		const h = harness()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		for (let i = 0; i < 2; i++) {
			const attempt = track(h.refreshWith('A1'))
			await failRefresh(h, i + 1, new Error('down'))
			await attempt.done
		}
		await h.login({ accessToken: 'B1', refreshToken: 'RB1' })
		const pending = h.refreshWith('B1')
		await answerRefresh(h, 3, { accessToken: 'B2' })
		expect((await pending).accessToken).toBe('B2')
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
		// The session and its refresh token are intact for the next attempt.
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
	it('waiters of a hung refresh get RefreshUnavailableError after refreshTimeoutMs; the call keeps the slot until the hard cap aborts it', async () => {
		vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
		const signals: AbortSignal[] = []
		const h = harness({
			refreshTimeoutMs: 500,
			refresh: vi.fn((context: RefreshContext) => {
				signals.push(context.signal)
				return new Promise<TokenSet>(() => undefined)
			}),
		})
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const pending = track(h.refreshWith('A1'))
		await vi.advanceTimersByTimeAsync(499)
		expect(pending.settled).toBe(false)
		expect(signals).toHaveLength(1)
		await vi.advanceTimersByTimeAsync(1)
		await pending.done
		expect(pending.error).toBeInstanceOf(RefreshUnavailableError)
		expect(h.logouts()).toHaveLength(0)
		expect(h.core.snapshot().accessToken).toBe('A1')

		// The call may still rotate the refresh token at the server: no second call with the old one.
		const joined = track(h.refreshWith('A1'))
		await vi.advanceTimersByTimeAsync(0)
		expect(signals).toHaveLength(1)
		expect(signals[0]!.aborted).toBe(false)
		await vi.advanceTimersByTimeAsync(500)
		await joined.done
		expect(joined.error).toBeInstanceOf(RefreshUnavailableError)

		// At three refresh timeouts the call is abandoned and aborted; then a new call may go out.
		await vi.advanceTimersByTimeAsync(500)
		expect(signals[0]!.aborted).toBe(true)
		expect(signals[0]!.reason).toBeInstanceOf(RefreshUnavailableError)
		const next = track(h.refreshWith('A1'))
		await vi.advanceTimersByTimeAsync(0)
		expect(signals).toHaveLength(2)
		await vi.advanceTimersByTimeAsync(500)
		await next.done
		expect(next.error).toBeInstanceOf(RefreshUnavailableError)
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
		const refresh = Object.assign(vi.fn((context: RefreshContext) => {
			const answer = deferred<TokenSet>()
			calls.push({ context, answer })
			return answer.promise
		}), { logout })
		const h = harness({ refresh, ...options })
		return { h: { ...h, calls, refresh }, logout, logouts }
	}

	it('a user logout ends the session at the server once the running refresh has answered, and answers after it', async () => {
		const { h, logout, logouts } = withServerLogout()
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const refreshing = track(h.refreshWith('A1'))
		await refreshCalled(h, 1)
		const loggedOut = track(h.handle({ type: 'logout', tab: 't' }))
		await flush()
		// The refresh may still set a rotated cookie: the server logout goes out after it.
		expect(logout).not.toHaveBeenCalled()
		expect(h.logouts()).toHaveLength(1)
		h.calls[0]!.answer.resolve({ accessToken: 'A2-late', refreshToken: 'R2-late' })
		await vi.waitFor(() => expect(logout).toHaveBeenCalledTimes(1), { timeout: 1000, interval: 1 })
		expect(logouts[0]!.context.refreshToken).toBe('R1')
		expect(loggedOut.settled).toBe(false)
		logouts[0]!.answer.resolve()
		await loggedOut.done
		expect(loggedOut.value?.accessToken).toBeNull()
		await refreshing.done
		expect(refreshing.error).toBeInstanceOf(LoggedOutError)
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

	it('a hung server logout holds refreshes until the hard cap aborts it; a failed one does not fail the logout', async () => {
		vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
		const { h, logouts } = withServerLogout({ refreshTimeoutMs: 500 })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		const loggedOut = track(h.handle({ type: 'logout', tab: 't' }))
		await vi.advanceTimersByTimeAsync(0)
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
		await loggedOut.done
		expect(loggedOut.value?.accessToken).toBeNull()
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
	it('does not call the refresh endpoint while offline, and clears the backoff once back online', async () => {
		const network = { online: true }
		const h = harness({ isOnline: () => network.online })
		await h.login({ accessToken: 'A1', refreshToken: 'R1' })
		for (let attempt = 1; attempt <= 2; attempt++) {
			const failed = h.refreshWith('A1')
			await failRefresh(h, attempt, new TypeError('Failed to fetch'))
			await expect(failed).rejects.toBeInstanceOf(RefreshUnavailableError)
		}
		await expect(h.refreshWith('A1')).rejects.toThrow(/allowed in/)

		network.online = false
		await expect(h.refreshWith('A1')).rejects.toThrow(/offline/)
		expect(h.refresh).toHaveBeenCalledTimes(2)
		expect(h.logouts()).toHaveLength(0)

		network.online = true
		const retried = h.refreshWith('A1')
		await answerRefresh(h, 3, { accessToken: 'A2' })
		expect((await retried).accessToken).toBe('A2')
	})
})
