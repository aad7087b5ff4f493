import { describe, expect, it, vi } from 'vitest'
import { BrokerCore } from '../../src/core/broker-core.js'
import { InvalidOptionError } from '../../src/core/errors/invalid-option-error.js'
import type { BrokerBroadcast, TokenSet } from '../../src/core/protocol.js'

const ORIGIN = 'https://app.test'
const T0 = 1_700_000_000_000

function core(refresh: () => Promise<TokenSet>, extra: { refreshTimeoutMs?: number } = {}) {
	const broadcasts: BrokerBroadcast[] = []
	const clock = { now: T0 }
	const broker = new BrokerCore({
		refresh: vi.fn(refresh),
		exchange: async () => ({ accessToken: 'x' }),
		exchangeUrls: () => true,
		origin: ORIGIN,
		broadcast: (message) => broadcasts.push(message),
		now: () => clock.now,
		...extra,
	})
	return { broker, broadcasts, clock }
}

describe('a broker behind the tab that asks it to refresh', () => {
	it("seeded with an older token than the tab holds: refreshes, and its answer is newer than the tab's state", async () => {
		const refresh = vi.fn(async () => ({ accessToken: 'A3' }))
		const { broker } = core(refresh)
		await broker.handle({ type: 'seed', accessToken: 'A1', generation: T0 - 10 })
		const answer = await broker.handle({ type: 'refresh', failedToken: 'A2', generation: T0 + 5 })
		expect(refresh).toHaveBeenCalledTimes(1)
		expect(answer.accessToken).toBe('A3')
		expect(answer.generation).toBeGreaterThan(T0 + 5)
	})

	it('a tab whose token the broker has already replaced, and that is not ahead of it, gets the current token without a refresh', async () => {
		const refresh = vi.fn(async () => ({ accessToken: 'never' }))
		const { broker } = core(refresh)
		const login = await broker.handle({ type: 'login', tokens: { accessToken: 'A2' } })
		const answer = await broker.handle({ type: 'refresh', failedToken: 'A1', generation: login.generation - 1 })
		expect(answer).toEqual(login)
		expect(refresh).not.toHaveBeenCalled()
	})

	it("a tab without a token gets the broker's session, whatever generation it names", async () => {
		const refresh = vi.fn(async () => ({ accessToken: 'never' }))
		const { broker } = core(refresh)
		const login = await broker.handle({ type: 'login', tokens: { accessToken: 'A1' } })
		expect(await broker.handle({ type: 'refresh', failedToken: null, generation: login.generation + 1_000 })).toEqual(login)
		expect(refresh).not.toHaveBeenCalled()
	})
})

describe('a seed', () => {
	it("that lands after the broker told a tab 'no token' at the seeder's generation comes out newer, so that tab takes the seeded token", async () => {
		// A restarted worker (cookie mode): a frozen tab's refresh lifts its generation to the tab's, and fails.
		const { broker } = core(async () => Promise.reject(new TypeError('Failed to fetch')))
		const G = T0 - 10
		await expect(broker.handle({ type: 'refresh', failedToken: 'A1', generation: G })).rejects.toThrow()
		const told = await broker.handle({ type: 'hello' })
		expect(told).toEqual({ accessToken: null, generation: G })
		const seeded = await broker.handle({ type: 'seed', accessToken: 'A1', generation: G })
		expect(seeded.accessToken).toBe('A1')
		// A tab holding 'no token' at G ignores another answer at G: it would send no token, and its 401 would never heal.
		expect(seeded.generation).toBeGreaterThan(G)
		expect(await broker.handle({ type: 'refresh', failedToken: null })).toEqual(seeded)
	})

	it('keeps when the tab received its token, so the lifetime stays known after a restart', async () => {
		const { broker } = core(async () => ({ accessToken: 'never' }))
		const seeded = await broker.handle({ type: 'seed', accessToken: 'A1', expiresAt: T0 + 60_000, issuedAt: T0 - 1_000, generation: 7 })
		expect(seeded).toEqual({ accessToken: 'A1', expiresAt: T0 + 60_000, issuedAt: T0 - 1_000, generation: 7 })
		expect(broker.exportState().tokens).toEqual({ accessToken: 'A1', expiresAt: T0 + 60_000, issuedAt: T0 - 1_000 })
	})
})

describe("the broker's own numeric option", () => {
	it('refreshTimeoutMs must be a duration a timer can wait, three times over', () => {
		for (const refreshTimeoutMs of [0, -1, Number.NaN, Infinity, 2 ** 31]) {
			expect(() => core(async () => ({ accessToken: 'x' }), { refreshTimeoutMs }), String(refreshTimeoutMs)).toThrow(InvalidOptionError)
		}
		expect(() => core(async () => ({ accessToken: 'x' }), { refreshTimeoutMs: 1_000 })).not.toThrow()
	})
})
