import axios from 'axios'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { attachAxios } from '../../src/adapters/axios.js'
import { createTokenClient } from '../../src/create-token-client.js'
import { BrokerTimeoutError } from '../../src/core/errors/broker-timeout-error.js'
import { InvalidOptionError } from '../../src/core/errors/invalid-option-error.js'
import { LoggedOutError } from '../../src/core/errors/logged-out-error.js'
import type { LogoutReason, TokenSet, TokenSnapshot } from '../../src/core/protocol.js'
import { authorizedSender } from '../../src/session/authorized-send.js'
import { tabSession } from '../../src/session/tab-session.js'
import type { BrokerConnection } from '../../src/transports/connection.js'
import { deferred, flush } from '../core/helpers.js'
import { APP, FakeWorld, authorize, closeClients, errorOf, openClient } from './fake-world.js'

interface Sent {
	url: string
	authorization: string | null
}

/** globalThis.fetch playing the API: 200 for the token the world accepts, 401 otherwise. */
function fakeApi(world: FakeWorld) {
	const sent: Sent[] = []
	vi.stubGlobal('fetch', async (input: RequestInfo | URL, init?: RequestInit) => {
		const request = new Request(input, init)
		const authorization = request.headers.get('Authorization')
		sent.push({ url: request.url, authorization })
		await new Promise((resolve) => setTimeout(resolve, 0))
		return new Response(null, { status: world.validToken !== null && authorization === `Bearer ${world.validToken}` ? 200 : 401 })
	})
	return sent
}

async function signedIn(login: Partial<TokenSet> = {}, options: { refreshAheadMs?: number; timeoutMs?: number } = {}) {
	const world = new FakeWorld()
	const sent = fakeApi(world)
	const tab = openClient(world, options)
	await tab.session.login(world.issue(login))
	await flush()
	return { world, sent, tab }
}

afterEach(() => {
	closeClients()
	vi.unstubAllGlobals()
	vi.useRealTimers()
})

describe("finding 7: the page's time limit and the broker's wait", () => {
	it('timeoutMs 1000 still leaves the broker time to refresh: a 401 is refreshed and retried', async () => {
		const { world, tab } = await signedIn({}, { timeoutMs: 1_000 })
		world.refreshBehaviour = async () => {
			await new Promise((resolve) => setTimeout(resolve, 20))
			return world.issue()
		}
		world.validToken = 'rotated-by-the-server'
		expect((await tab.client.fetch(`${APP}/api/a`)).status).toBe(200)
		expect(world.refreshCalls).toHaveLength(1)
	})

	it("the broker waits a share of the page's limit, never nothing: 2 s leaves it 1.8 s, and 15 s keeps its 1 s margin", async () => {
		for (const [timeoutMs, waitMs] of [
			[500, 450],
			[2_000, 1_800],
			[15_000, 14_000],
		] as const) {
			const { world, tab } = await signedIn({}, { timeoutMs })
			await tab.client.refresh()
			expect(world.messages.filter((message) => message.type === 'refresh').map((message) => 'waitMs' in message && message.waitMs)).toEqual([waitMs])
		}
	})

	it('bad numeric options are refused at once, naming the option and what it takes', () => {
		const bad: Array<Record<string, unknown>> = [
			{ timeoutMs: Infinity },
			{ timeoutMs: 0 },
			{ timeoutMs: -1 },
			{ timeoutMs: Number.NaN },
			{ timeoutMs: '5000' },
			{ timeoutMs: 2 ** 31 },
			{ refreshAheadMs: -1 },
			{ refreshAheadMs: Infinity },
			{ refreshAheadMs: Number.NaN },
			{ keepAliveMs: 0 },
			{ keepAliveMs: Infinity },
			{ keepAliveMs: true },
		]
		for (const options of bad) {
			const [name] = Object.keys(options)
			let thrown: unknown
			try {
				createTokenClient(options).close()
			} catch (error) {
				thrown = error
			}
			expect(thrown, JSON.stringify(options)).toBeInstanceOf(InvalidOptionError)
			expect((thrown as InvalidOptionError).option).toBe(name)
			expect((thrown as Error).message).toContain(name)
		}
		for (const options of [{ timeoutMs: 1 }, { timeoutMs: 60_000 }, { refreshAheadMs: 0 }, { keepAliveMs: false as const }, { keepAliveMs: 5_000 }, {}]) {
			createTokenClient({ ...options, fallback: false }).close()
		}
	})
})

describe('finding 8: a broker behind the tab', () => {
	it('a restarted worker seeded first by a frozen tab with an older token: the tab that holds the newer one gets a refresh, not the old snapshot', async () => {
		const { world, sent, tab } = await signedIn()
		const older = world.core.snapshot()
		await tab.client.refresh()
		await flush()
		expect(tab.session.accessToken).toBe('access-2')
		// The worker stops; a tab frozen since access-1 wakes first and seeds it.
		world.restart()
		await world.core.handle({ type: 'seed', accessToken: older.accessToken!, generation: older.generation })
		world.validToken = 'rotated-by-the-server'
		const response = await tab.client.fetch(`${APP}/api/a`)
		expect(response.status).toBe(200)
		expect(world.refreshCalls).toHaveLength(2)
		expect(sent.map((call) => call.authorization)).toEqual(['Bearer access-2', `Bearer ${world.validToken}`])
		expect(tab.session.accessToken).toBe(world.validToken)
	})

	it('a broker that answers a refresh with an older token than the tab holds: the tab does not send the refused token again', async () => {
		const world = new FakeWorld()
		const sent = fakeApi(world)
		world.validToken = 'nobody-has-this'
		// A broker of an older version, which answers `refresh` with whatever it holds.
		const stale: BrokerConnection = {
			request: async (message): Promise<TokenSnapshot> => {
				if (message.type === 'hello') return { accessToken: 'new', generation: 5 }
				return { accessToken: 'old', generation: 3 }
			},
			onBroadcast: () => () => undefined,
			close: () => undefined,
		}
		const session = tabSession(stale, { onLogout: () => undefined })
		const sender = authorizedSender(session, authorize)
		await session.tokenForRequest()
		const response = await sender.send<Response>({
			token: 'new',
			method: 'GET',
			url: `${APP}/api/a`,
			send: (token) => fetch(`${APP}/api/a`, { headers: { Authorization: `Bearer ${token}` } }),
			refused: (outcome) => outcome.ok && outcome.value.status === 401,
		})
		expect(response.status).toBe(401)
		expect(sent.map((call) => call.authorization)).toEqual(['Bearer new'])
		session.close()
	})
})

describe('finding 10: logout() with a broker that does not answer', () => {
	it('ends the session in this tab at once, says the broker was not reached, and does not take the old session back from it later', async () => {
		const { world, tab } = await signedIn({}, { timeoutMs: 200 })
		const events: unknown[] = []
		tab.client.subscribe((event) => events.push(event))
		world.unreachable = true
		const logout = errorOf(tab.client.logout())
		expect(tab.session.accessToken).toBeNull()
		expect(tab.client.state).toEqual({ status: 'signed-out' })
		expect(events).toEqual([
			{ type: 'logout', reason: 'user' },
			{ type: 'state', state: { status: 'signed-out' } },
		])
		expect(tab.logouts).toEqual(['user'])
		expect(await tab.client.getAccessToken()).toBeNull()
		expect(await logout).toBeInstanceOf(BrokerTimeoutError)

		// The broker comes back still holding the session: the tab's keep-alive does not sign it in again.
		world.unreachable = false
		await tab.session.ping()
		expect(tab.session.accessToken).toBeNull()
		expect(tab.logouts).toEqual(['user'])

		// A later login does.
		world.clock.now += 1_000
		await tab.client.login(world.issue())
		expect(tab.session.accessToken).toBe(world.validToken)
	})

	it("a refresh the broker finishes while this tab's logout is on its way does not sign the tab in again; a login after the logout does", async () => {
		const world = new FakeWorld()
		fakeApi(world)
		const a = openClient(world)
		const b = openClient(world)
		await a.session.login(world.issue())
		await flush()
		const gate = deferred<TokenSet>()
		world.refreshBehaviour = () => gate.promise
		world.validToken = 'rotated-by-the-server'
		const request = b.client.fetch(`${APP}/api/a`)
		await vi.waitFor(() => expect(world.refreshCalls).toHaveLength(1))
		// A's logout is held on the way; meanwhile the broker finishes B's refresh and broadcasts it.
		const hold = world.holdRequests()
		const logout = a.client.logout()
		world.clock.now += 1_000
		gate.resolve(world.issue())
		expect((await request).status).toBe(200)
		await flush()
		expect(a.session.accessToken).toBeNull()
		hold()
		await logout
		await flush()
		expect(a.session.accessToken).toBeNull()
		expect(b.session.accessToken).toBeNull()
		expect({ a: a.logouts, b: b.logouts }).toEqual({ a: ['user'], b: ['remote'] })

		world.clock.now += 1_000
		await b.client.login(world.issue())
		await flush()
		expect(a.session.accessToken).toBe(world.validToken)
	})

	it('a request waiting for a refresh when the user logs out rejects with LoggedOutError at once', async () => {
		const { world, tab } = await signedIn({}, { timeoutMs: 5_000 })
		const gate = deferred<TokenSet>()
		world.refreshBehaviour = () => gate.promise
		world.validToken = 'rotated-by-the-server'
		const request = errorOf(tab.client.fetch(`${APP}/api/a`))
		await vi.waitFor(() => expect(world.refreshCalls).toHaveLength(1))
		world.unreachable = true
		void tab.client.logout().catch(() => undefined)
		const error = await request
		expect(error).toBeInstanceOf(LoggedOutError)
		expect((error as LoggedOutError).reason).toBe('user')
	})
})

describe('finding 11: a seed keeps issuedAt', () => {
	it('after a worker restart re-seeded by a tab, an explicit refreshAheadMs is still capped at half the lifetime', async () => {
		const { world, tab } = await signedIn({ expiresIn: 60 }, { refreshAheadMs: 120_000 })
		world.restart()
		await tab.session.ping()
		expect(world.core.snapshot()).toMatchObject({ accessToken: 'access-1', issuedAt: world.clock.now })
		const late = openClient(world, { refreshAheadMs: 120_000 })
		world.clock.now += 5_000
		expect((await late.client.fetch(`${APP}/api/a`)).status).toBe(200)
		// 55 s left, capped ahead-time 30 s: no refresh yet.
		expect(world.refreshCalls).toHaveLength(0)
	})
})

describe('finding 12: logged out by another tab', () => {
	it("is 'remote', even when this tab's refresh answer arrives before the logout broadcast", async () => {
		const world = new FakeWorld()
		fakeApi(world)
		const a = openClient(world)
		const b = openClient(world)
		await a.session.login(world.issue())
		await flush()
		const gate = deferred<TokenSet>()
		world.refreshBehaviour = () => gate.promise
		world.validToken = 'rotated-by-the-server'
		const request = errorOf(a.client.fetch(`${APP}/api/a`))
		await vi.waitFor(() => expect(world.refreshCalls).toHaveLength(1))
		const release = world.holdBroadcasts()
		await b.client.logout()
		gate.resolve(world.issue())
		expect(await request).toBeInstanceOf(LoggedOutError)
		await flush()
		release()
		await flush()
		const seen: Record<string, LogoutReason[]> = { a: a.logouts, b: b.logouts }
		expect(seen).toEqual({ a: ['remote'], b: ['user'] })
	})
})

describe('keepalive requests', () => {
	it('do not wait behind a refresh ahead of expiry: they go out at once with the token that is still valid', async () => {
		const { world, sent, tab } = await signedIn({ expiresIn: 60 })
		const gate = deferred<TokenSet>()
		world.refreshBehaviour = () => gate.promise
		world.clock.now += 55_000
		const beacon = tab.client.fetch(`${APP}/api/analytics`, { method: 'POST', body: 'bye', keepalive: true })
		await vi.waitFor(() => expect(sent).toHaveLength(1))
		expect(sent[0]!.authorization).toBe('Bearer access-1')
		expect((await beacon).status).toBe(200)
		gate.resolve(world.issue({ expiresIn: 60 }))
	})

	it("axios with fetchOptions.keepalive: the same, through axios's own fetch adapter", async () => {
		const { world, sent, tab } = await signedIn({ expiresIn: 60 })
		const gate = deferred<TokenSet>()
		world.refreshBehaviour = () => gate.promise
		const http = axios.create({ baseURL: APP, adapter: 'fetch' })
		attachAxios(tab.client, http)
		world.clock.now += 55_000
		const beacon = http.post('/api/analytics', 'bye', { fetchOptions: { keepalive: true } }).then((r) => r.status)
		await vi.waitFor(() => expect(sent).toHaveLength(1))
		expect(sent[0]!.authorization).toBe('Bearer access-1')
		expect(await beacon).toBe(200)
		// An ordinary request waits for the renewal.
		const ordinary = http.get('/api/orders').then((r) => r.status)
		await flush()
		expect(sent).toHaveLength(1)
		gate.resolve(world.issue({ expiresIn: 60 }))
		expect(await ordinary).toBe(200)
		expect(sent[1]!.authorization).toBe(`Bearer ${world.validToken}`)
	})

	it('wait like any request once the token has expired', async () => {
		const { world, sent, tab } = await signedIn({ expiresIn: 60 })
		world.clock.now += 61_000
		expect((await tab.client.fetch(`${APP}/api/analytics`, { keepalive: true })).status).toBe(200)
		expect(world.refreshCalls).toHaveLength(1)
		expect(sent.map((call) => call.authorization)).toEqual([`Bearer ${world.validToken}`])
	})
})
