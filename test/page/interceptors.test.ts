import axios, { AxiosError, AxiosHeaders, type AxiosAdapter, type AxiosInstance, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { attachAxios } from '../../src/adapters/axios.js'
import type { TokenClient } from '../../src/create-token-client.js'
import { LoggedOutError } from '../../src/core/errors/logged-out-error.js'
import { RefreshRejectedError } from '../../src/core/errors/refresh-rejected-error.js'
import { RefreshUnavailableError } from '../../src/core/errors/refresh-unavailable-error.js'
import type { LogoutReason, TokenSet } from '../../src/core/protocol.js'
import { LOGOUT_SETTLE_MS } from '../../src/session/logout-gate.js'
import type { TabSession } from '../../src/session/tab-session.js'
import { deferred, flush } from '../core/helpers.js'
import { APP, FakeWorld, closeClients, errorOf, openClient, wire } from './fake-world.js'

interface ApiCall {
	url: string
	authorization: string | null
	status: number
}

/** An axios adapter playing the API: 200 for the token the world accepts, 401 otherwise. */
function fakeApi(world: FakeWorld) {
	const calls: ApiCall[] = []
	const arrived: string[] = []
	const { passed, holdRequests } = wire()
	const adapter: AxiosAdapter = async (config: InternalAxiosRequestConfig): Promise<AxiosResponse> => {
		arrived.push(axios.getUri(config))
		const authorization = AxiosHeaders.from(config.headers).get('Authorization')
		const header = typeof authorization === 'string' ? authorization : null
		const url = axios.getUri(config)
		// The request is "on the wire"; the answer is decided when it arrives.
		await passed()
		await new Promise((resolve) => setTimeout(resolve, 0))
		const ok = world.validToken !== null && header === `Bearer ${world.validToken}`
		const status = ok ? 200 : 401
		calls.push({ url, authorization: header, status })
		const response: AxiosResponse = { data: ok ? { ok: true, url } : { error: 'invalid_token' }, status, statusText: ok ? 'OK' : 'Unauthorized', headers: {}, config, request: {} }
		if (!ok) throw new AxiosError('Request failed with status code 401', AxiosError.ERR_BAD_REQUEST, config, {}, response)
		return response
	}
	return {
		adapter,
		calls,
		arrived,
		holdRequests,
		count401: () => calls.filter((c) => c.status === 401).length,
	}
}

interface Tab {
	session: TabSession
	client: TokenClient
	http: AxiosInstance
	detach: () => void
	logouts: LogoutReason[]
}

function openTab(world: FakeWorld, adapter: AxiosAdapter, options: { refreshAheadMs?: number; timeoutMs?: number } = {}): Tab {
	const tab = openClient(world, options)
	const http = axios.create({ baseURL: APP, adapter })
	const detach = attachAxios(tab.client, http)
	return { ...tab, http, detach }
}

/** A world with a logged-in session and `count` tabs that all know its token. */
async function setup(count: number, login: Partial<TokenSet> = {}, options: { refreshAheadMs?: number; timeoutMs?: number } = {}) {
	const world = new FakeWorld()
	const api = fakeApi(world)
	const tabs = Array.from({ length: count }, () => openTab(world, api.adapter, options))
	await tabs[0]!.session.login(world.issue(login))
	await flush()
	for (const tab of tabs) expect(tab.session.accessToken).toBe(world.validToken)
	return { world, api, tabs }
}

afterEach(closeClients)

describe('axios interceptors over a shared broker', () => {
	it('3 tabs × 10 concurrent requests after the API stops accepting the token: all succeed with exactly 1 refresh', async () => {
		const { world, api, tabs } = await setup(3)
		const first = world.validToken
		world.validToken = 'the-server-expired-everything-before-this'
		// The refresh answers only once every request got its 401: all 30 wait on it together.
		const gate = deferred<void>()
		world.refreshBehaviour = async () => {
			await gate.promise
			return world.issue()
		}

		const requests = tabs.flatMap((tab, t) => Array.from({ length: 10 }, (_, i) => tab.http.get(`/api/items/${t}-${i}`)))
		await vi.waitFor(() => expect(api.count401()).toBe(30))
		await flush()
		expect(world.refreshCalls).toHaveLength(1)
		gate.resolve()
		const responses = await Promise.all(requests)

		expect(world.refreshCalls).toHaveLength(1)
		expect(world.refreshCalls[0]!.refreshToken).toBe('refresh-1')
		for (const response of responses) {
			expect(response.status).toBe(200)
			expect(response.data).toMatchObject({ ok: true })
		}
		// Each request failed once with the old token and succeeded once with the new one.
		expect(api.count401()).toBe(30)
		expect(api.calls.filter((c) => c.status === 200)).toHaveLength(30)
		for (const call of api.calls) expect(call.authorization).toBe(call.status === 401 ? `Bearer ${first}` : `Bearer ${world.validToken}`)
		// Requests of one tab share one message to the broker.
		expect(world.count('refresh')).toBe(3)
		for (const tab of tabs) expect(tab.session.accessToken).toBe(world.validToken)
	})

	it('401s that trickle in after the refresh already finished cause no second refresh', async () => {
		const { world, api, tabs } = await setup(3)
		world.validToken = 'expired'
		const responses = await Promise.all(tabs.flatMap((tab) => Array.from({ length: 10 }, () => tab.http.get('/api/trickle'))))
		for (const response of responses) expect(response.status).toBe(200)
		expect(world.refreshCalls).toHaveLength(1)
		expect(api.count401()).toBe(30)
	})

	it('after a 401, new requests of that tab wait for the refresh instead of sending the refused token; an aborted one leaves at once', async () => {
		const { world, api, tabs } = await setup(1)
		const gate = deferred<TokenSet>()
		world.refreshBehaviour = () => gate.promise
		world.validToken = 'expired'
		const first = tabs[0]!.http.get('/api/first')
		await vi.waitFor(() => expect(world.refreshCalls).toHaveLength(1))
		const later = tabs[0]!.http.get('/api/later')
		const controller = new AbortController()
		const aborted = errorOf(tabs[0]!.http.get('/api/aborted', { signal: controller.signal }))
		await flush()
		expect(api.arrived).toHaveLength(1)
		controller.abort()
		expect(axios.isCancel(await aborted)).toBe(true)

		gate.resolve(world.issue())
		for (const response of await Promise.all([first, later])) expect(response.status).toBe(200)
		expect(world.refreshCalls).toHaveLength(1)
		expect(api.calls.map((c) => [c.url.slice(APP.length), c.status])).toEqual([
			['/api/first', 401],
			['/api/first', 200],
			['/api/later', 200],
		])
	})

	it('an early refresh does not hold back requests: the token still works until it expires', async () => {
		const { world, api, tabs } = await setup(1, { expiresIn: 60 })
		const gate = deferred<TokenSet>()
		world.refreshBehaviour = () => gate.promise
		const forced = tabs[0]!.client.refresh()
		await vi.waitFor(() => expect(world.refreshCalls).toHaveLength(1))
		expect((await tabs[0]!.http.get('/api/during')).status).toBe(200)
		expect(api.calls.map((c) => c.authorization)).toEqual(['Bearer access-1'])
		gate.resolve(world.issue())
		await forced
	})

	it('a 401 for a request sent with an older token is retried with the current one, without a refresh', async () => {
		const { world, api, tabs } = await setup(2)
		const [a, b] = tabs as [Tab, Tab]
		const release = api.holdRequests()
		const pending = a.http.get('/api/slow')
		await vi.waitFor(() => expect(api.arrived).toHaveLength(1))
		// While the request is on the wire, another tab signs in again: the broker's token moves on.
		await b.session.login(world.issue())
		release()
		const response = await pending
		expect(response.status).toBe(200)
		expect(world.refreshCalls).toHaveLength(0)
		expect(api.calls.map((c) => [c.authorization, c.status])).toEqual([
			['Bearer access-1', 401],
			['Bearer access-2', 200],
		])
	})

	it('a retried request that gets 401 again reaches the caller as the 401 AxiosError, after one refresh', async () => {
		const { world, api, tabs } = await setup(1)
		// The API refuses every token, even fresh ones.
		world.refreshBehaviour = async () => ({ accessToken: 'fresh-but-refused', refreshToken: 'r2' })
		world.validToken = 'nothing-anyone-has'
		const error = await errorOf(tabs[0]!.http.get('/api/forbidden'))
		expect(axios.isAxiosError(error)).toBe(true)
		expect((error as AxiosError).response?.status).toBe(401)
		expect(world.refreshCalls).toHaveLength(1)
		expect(api.calls.map((c) => c.authorization)).toEqual(['Bearer access-1', 'Bearer fresh-but-refused'])
		// The next request is again refreshed once (the retry marker did not leak into the instance).
		const again = await errorOf(tabs[0]!.http.get('/api/forbidden'))
		expect((again as AxiosError).response?.status).toBe(401)
		expect(world.refreshCalls).toHaveLength(2)
	})

	it('definitive refresh failure: every queued request rejects with LoggedOutError and onLogout runs once per tab', async () => {
		const { world, api, tabs } = await setup(3)
		const gate = deferred<TokenSet>()
		world.refreshBehaviour = () => gate.promise
		world.validToken = 'revoked'
		const requests = tabs.flatMap((tab) => Array.from({ length: 4 }, (_, i) => errorOf(tab.http.get(`/api/q/${i}`))))
		await vi.waitFor(() => expect(world.refreshCalls).toHaveLength(1))
		gate.reject(new RefreshRejectedError('invalid_grant'))
		const errors = await Promise.all(requests)
		for (const error of errors) {
			expect(error).toBeInstanceOf(LoggedOutError)
			expect((error as LoggedOutError).reason).toBe('refresh-rejected')
		}
		await flush()
		for (const tab of tabs) {
			expect(tab.logouts).toEqual(['refresh-rejected'])
			expect(tab.session.accessToken).toBeNull()
		}

		// No further refresh until the next login: a new request fails at once.
		const later = await errorOf(tabs[1]!.http.get('/api/after'))
		expect(later).toBeInstanceOf(LoggedOutError)
		expect(world.refreshCalls).toHaveLength(1)
		expect(api.calls.filter((c) => c.url.endsWith('/api/after')).every((c) => c.authorization === null)).toBe(true)
		for (const tab of tabs) expect(tab.logouts).toHaveLength(1)

		// Login in one tab brings every tab back.
		world.refreshBehaviour = async () => world.issue()
		await tabs[2]!.session.login(world.issue())
		await flush()
		const ok = await tabs[0]!.http.get('/api/back')
		expect(ok.status).toBe(200)
	})

	it('a tab that never had a session is not sent to the login page', async () => {
		const world = new FakeWorld()
		const api = fakeApi(world)
		const tab = openTab(world, api.adapter)
		world.refreshBehaviour = async () => {
			throw new RefreshRejectedError('no cookie', { reason: 'no-refresh-credentials' })
		}
		const error = await errorOf(tab.http.get('/api/anon'))
		expect(error).toBeInstanceOf(LoggedOutError)
		await flush()
		expect(tab.logouts).toEqual([])
	})

	it('transient refresh failure: queued requests reject with RefreshUnavailableError, nobody is logged out, a request after the broker waited tries again', async () => {
		const { world, tabs } = await setup(3)
		const gate = deferred<TokenSet>()
		world.refreshBehaviour = () => gate.promise
		world.validToken = 'expired'
		const requests = tabs.flatMap((tab) => Array.from({ length: 3 }, () => errorOf(tab.http.get('/api/x'))))
		await vi.waitFor(() => expect(world.refreshCalls).toHaveLength(1))
		gate.reject(new TypeError('Failed to fetch'))
		for (const error of await Promise.all(requests)) expect(error).toBeInstanceOf(RefreshUnavailableError)
		await flush()
		for (const tab of tabs) {
			expect(tab.logouts).toEqual([])
			expect(tab.session.accessToken).toBe('access-1')
		}

		world.refreshBehaviour = async () => world.issue()
		world.clock.now += 5_000
		const response = await tabs[2]!.http.get('/api/x')
		expect(response.status).toBe(200)
		expect(world.refreshCalls).toHaveLength(2)
		expect(world.refreshCalls[1]!.refreshToken).toBe('refresh-1')
	})

	it('a request to another origin gets no Authorization header and its 401 is not refreshed', async () => {
		const { world, api, tabs } = await setup(1)
		const error = await errorOf(tabs[0]!.http.get('http://other.test/api'))
		expect((error as AxiosError).response?.status).toBe(401)
		expect(api.calls).toEqual([{ url: 'http://other.test/api', authorization: null, status: 401 }])
		expect(world.refreshCalls).toHaveLength(0)
		expect(world.count('refresh')).toBe(0)
		// A same-origin absolute URL is authorized.
		expect((await tabs[0]!.http.get(`${APP}/api/abs`)).status).toBe(200)
		expect(api.calls.at(-1)?.authorization).toBe('Bearer access-1')
	})

	it('an aborted request leaves the queue at once with CanceledError; the shared refresh goes on for the others', async () => {
		const { world, api, tabs } = await setup(2)
		const gate = deferred<TokenSet>()
		let refreshSignal: AbortSignal | undefined
		world.refreshBehaviour = (context) => {
			refreshSignal = context.signal
			return gate.promise
		}
		world.validToken = 'expired'
		const controller = new AbortController()
		const aborted = errorOf(tabs[0]!.http.get('/api/a', { signal: controller.signal }))
		const others = [tabs[0]!.http.get('/api/b'), tabs[1]!.http.get('/api/c')]
		await vi.waitFor(() => expect(world.refreshCalls).toHaveLength(1))

		controller.abort()
		const error = await aborted
		expect(axios.isCancel(error)).toBe(true)
		expect(refreshSignal?.aborted).toBe(false)
		expect(world.refreshCalls).toHaveLength(1)

		gate.resolve(world.issue())
		for (const response of await Promise.all(others)) expect(response.status).toBe(200)
		expect(world.refreshCalls).toHaveLength(1)
		// The aborted request was not retried.
		expect(api.calls.filter((c) => c.url.endsWith('/api/a'))).toHaveLength(1)
	})

	it('an aborted request waiting for a proactive refresh also leaves at once', async () => {
		const { world, api, tabs } = await setup(1, { expiresIn: 60 })
		const gate = deferred<TokenSet>()
		world.refreshBehaviour = () => gate.promise
		world.clock.now += 55_000
		const controller = new AbortController()
		const aborted = errorOf(tabs[0]!.http.get('/api/a', { signal: controller.signal }))
		const other = tabs[0]!.http.get('/api/b')
		await vi.waitFor(() => expect(world.refreshCalls).toHaveLength(1))
		controller.abort()
		expect(axios.isCancel(await aborted)).toBe(true)
		gate.resolve(world.issue({ expiresIn: 60 }))
		expect((await other).status).toBe(200)
		expect(api.calls.map((c) => c.url)).toEqual([`${APP}/api/b`])
	})

	it('proactive refresh: a token within refreshAheadMs of expiry waits for one refresh, and the API sees no 401', async () => {
		const { world, api, tabs } = await setup(3, { expiresIn: 60 })
		// Lifetime 60 s: the default refreshes 12 s (a fifth) before expiry. 40 s in: not yet.
		world.clock.now += 40_000
		await Promise.all(tabs.map((tab) => tab.http.get('/api/early')))
		expect(world.refreshCalls).toHaveLength(0)

		world.clock.now += 9_000 // 11 s before expiry, still valid on the server
		world.refreshBehaviour = async () => world.issue({ expiresIn: 60 })
		const accepted = world.validToken
		const responses = await Promise.all(tabs.flatMap((tab) => Array.from({ length: 5 }, () => tab.http.get('/api/late'))))
		for (const response of responses) expect(response.status).toBe(200)
		expect(world.refreshCalls).toHaveLength(1)
		expect(api.count401()).toBe(0)
		expect(world.validToken).not.toBe(accepted)
		for (const call of api.calls.filter((c) => c.url.endsWith('/api/late'))) expect(call.authorization).toBe(`Bearer ${world.validToken}`)
	})

	it('proactive refresh honours an explicit refreshAheadMs up to half the lifetime', async () => {
		const { world, api, tabs } = await setup(1, { expiresIn: 60 }, { refreshAheadMs: 25_000 })
		world.clock.now += 34_000 // 26 s before expiry: outside 25 s, though inside the default's bounds had it been larger
		expect((await tabs[0]!.http.get('/api/x')).status).toBe(200)
		expect(world.refreshCalls).toHaveLength(0)
		world.clock.now += 2_000 // 24 s before expiry: inside 25 s, more than a fifth of the lifetime
		world.refreshBehaviour = async () => world.issue({ expiresIn: 600 })
		expect((await tabs[0]!.http.get('/api/x')).status).toBe(200)
		expect(world.refreshCalls).toHaveLength(1)
		expect(api.count401()).toBe(0)
	})

	it('an explicit refreshAheadMs at or above the lifetime is capped at half of it: one refresh per lifetime, not one per request', async () => {
		const { world, api, tabs } = await setup(1, { expiresIn: 60 }, { refreshAheadMs: 120_000 })
		world.refreshBehaviour = async () => world.issue({ expiresIn: 60 })
		for (let second = 0; second < 120; second += 5) {
			expect((await tabs[0]!.http.get(`/api/${second}`)).status).toBe(200)
			world.clock.now += 5_000
		}
		// 24 requests over 2 minutes: each token is refreshed 30 s into its life (at 30, 60 and 90 s), never more often.
		expect(world.refreshCalls).toHaveLength(3)
		expect(api.count401()).toBe(0)
	})

	it('an early refresh that fails transiently still sends the not-yet-expired token', async () => {
		const { world, api, tabs } = await setup(1, { expiresIn: 60 })
		world.clock.now += 55_000
		world.refreshBehaviour = async () => {
			throw new TypeError('offline')
		}
		const response = await tabs[0]!.http.get('/api/x')
		expect(response.status).toBe(200)
		expect(api.calls[0]!.authorization).toBe('Bearer access-1')
	})

	it("logout in one tab: the others' onLogout runs with 'remote', the calling tab's with 'user'", async () => {
		const { world, api, tabs } = await setup(3)
		const [a, b, c] = tabs as [Tab, Tab, Tab]
		await b.session.logout()
		await flush()
		expect(b.logouts).toEqual(['user'])
		expect(a.logouts).toEqual(['remote'])
		expect(c.logouts).toEqual(['remote'])
		for (const tab of tabs) expect(tab.session.accessToken).toBeNull()
		// Requests go out without a token, and their 401 causes no refresh.
		const error = await errorOf(a.http.get('/api/x'))
		expect(error).toBeInstanceOf(LoggedOutError)
		expect((error as LoggedOutError).reason).toBe('user')
		await flush()
		expect(a.logouts).toEqual(['remote'])
		expect(api.calls.at(-1)?.authorization).toBeNull()
		expect(world.refreshCalls).toHaveLength(0)
	})

	it('a request in flight when the session ends settles before onLogout runs, so the page does not navigate away from it', async () => {
		const { world, api, tabs } = await setup(2)
		const [a, b] = tabs as [Tab, Tab]
		const release = api.holdRequests()
		let logoutsWhenSettled: LogoutReason[] | undefined
		const settled = errorOf(a.http.get('/api/slow')).then((error) => {
			logoutsWhenSettled = [...a.logouts]
			return error
		})
		await vi.waitFor(() => expect(api.arrived).toHaveLength(1))
		world.validToken = 'revoked'
		await b.session.logout()
		await flush()
		expect(a.session.accessToken).toBeNull()
		expect(a.logouts).toEqual([])
		release()
		const error = await settled
		expect(error).toBeInstanceOf(LoggedOutError)
		expect(logoutsWhenSettled).toEqual([])
		await vi.waitFor(() => expect(a.logouts).toEqual(['remote']))
	})

	it('a login while onLogout waits for a request cancels it: the new session stays', async () => {
		const { world, api, tabs } = await setup(2)
		const [a, b] = tabs as [Tab, Tab]
		const release = api.holdRequests()
		const pending = a.http.get('/api/slow').catch((error: unknown) => error)
		await vi.waitFor(() => expect(api.arrived).toHaveLength(1))
		await b.session.logout()
		await flush()
		await b.session.login(world.issue())
		await flush()
		release()
		await pending
		await new Promise((resolve) => setTimeout(resolve, 10))
		expect(a.logouts).toEqual([])
		expect(a.session.accessToken).toBe(world.validToken)
	})

	it("an app's `r => r.data` registered after attachAxios gives the data of a call that needed a refresh, and runs once per call", async () => {
		const { world, api, tabs } = await setup(1)
		const http = axios.create({ baseURL: APP, adapter: api.adapter })
		attachAxios(tabs[0]!.client, http)
		let ran = 0
		http.interceptors.response.use((response) => {
			ran += 1
			return response.data
		})
		expect(await http.get('/api/a')).toEqual({ ok: true, url: `${APP}/api/a` })
		world.validToken = 'rotated-by-the-server'
		expect(await http.get('/api/b')).toEqual({ ok: true, url: `${APP}/api/b` })
		expect(ran).toBe(2)
		expect(world.refreshCalls).toHaveLength(1)
		expect(api.count401()).toBe(1)
	})

	it("an app's error normaliser registered before attachAxios does not stop the refresh, and sees only the error that reaches the caller", async () => {
		class AppError extends Error {
			constructor(readonly status: number | undefined) {
				super(`HTTP ${status}`)
			}
		}
		const { world, api, tabs } = await setup(1)
		const http = axios.create({ baseURL: APP, adapter: api.adapter })
		const normalised: AppError[] = []
		http.interceptors.response.use(
			(response) => response.data,
			(error: AxiosError) => {
				const appError = new AppError(error.response?.status)
				normalised.push(appError)
				return Promise.reject(appError)
			},
		)
		attachAxios(tabs[0]!.client, http)
		world.validToken = 'rotated-by-the-server'
		expect(await http.get('/api/a')).toEqual({ ok: true, url: `${APP}/api/a` })
		expect(world.refreshCalls).toHaveLength(1)
		expect(normalised).toEqual([])

		// The retry is refused too: the caller gets one AppError for it, and no second refresh is made.
		world.refreshBehaviour = async () => ({ ...world.issue(), accessToken: 'the-api-refuses-this' })
		world.validToken = 'rotated-again'
		const error = await errorOf(http.get('/api/b'))
		expect(error).toBeInstanceOf(AppError)
		expect((error as AppError).status).toBe(401)
		expect(normalised).toHaveLength(1)
		expect(world.refreshCalls).toHaveLength(2)
	})

	it("axios's own fetch adapter keeps the app's env.fetch, on the first send and on the retry", async () => {
		const { world, tabs } = await setup(1)
		const sent: Array<string | null> = []
		const appFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
			const authorization = new Request(input, init).headers.get('Authorization')
			sent.push(authorization)
			const ok = authorization === `Bearer ${world.validToken}`
			return Response.json(ok ? { ok: true } : { error: 'invalid_token' }, { status: ok ? 200 : 401 })
		}
		const http = axios.create({ baseURL: APP, adapter: 'fetch', env: { fetch: appFetch } })
		attachAxios(tabs[0]!.client, http)
		world.validToken = 'rotated-by-the-server'
		expect((await http.get('/api/a')).data).toEqual({ ok: true })
		expect(sent).toEqual(['Bearer access-1', `Bearer ${world.validToken}`])
		expect(world.refreshCalls).toHaveLength(1)
	})

	it("an app's request interceptor that copies the config still gets its 401 refreshed", async () => {
		const { world, api, tabs } = await setup(1)
		const http = axios.create({ baseURL: APP, adapter: api.adapter })
		// Registered before attachAxios, so axios runs it after ours, right before the request goes out.
		http.interceptors.request.use((config) => ({ ...config }) as InternalAxiosRequestConfig)
		attachAxios(tabs[0]!.client, http)
		world.validToken = 'rotated-by-the-server'
		expect((await http.get('/api/a')).status).toBe(200)
		expect(world.refreshCalls).toHaveLength(1)
	})

	it("an app that sends a failed request's config again (its own retry) is not wrapped twice: each of its sends gets at most one refresh", async () => {
		const { world, api, tabs } = await setup(1)
		const http = axios.create({ baseURL: APP, adapter: api.adapter })
		attachAxios(tabs[0]!.client, http)
		let resent = 0
		http.interceptors.response.use(undefined, (error: AxiosError) => {
			if (resent > 0 || error.config === undefined) return Promise.reject(error)
			resent += 1
			return http.request(error.config)
		})
		// Each refresh brings a new token, which the API refuses too.
		world.refreshBehaviour = async () => ({ ...world.issue(), accessToken: `the-api-refuses-this-${world.refreshCalls.length}` })
		world.validToken = 'rotated-by-the-server'
		const error = await errorOf(http.get('/api/a'))
		expect((error as AxiosError).response?.status).toBe(401)
		expect(resent).toBe(1)
		// The app's resend has a fresh token from the first refresh, gets 401 again and may refresh once itself.
		expect(world.refreshCalls).toHaveLength(2)
		expect(api.count401()).toBe(4)
	})

	it('a request that outlives the onLogout wait does not hold back the logout of the next session', async () => {
		const { world, api, tabs } = await setup(2)
		const [a, b] = tabs as [Tab, Tab]
		vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
		try {
			const release = api.holdRequests()
			const slow = a.http.get('/api/slow-upload').catch((error: unknown) => error)
			await vi.advanceTimersByTimeAsync(0)
			const logout = b.session.logout()
			await vi.advanceTimersByTimeAsync(1)
			await logout
			expect(a.logouts).toEqual([])
			await vi.advanceTimersByTimeAsync(LOGOUT_SETTLE_MS)
			expect(a.logouts).toEqual(['remote'])

			// A new session, while the slow request of the old one is still out.
			release()
			await b.session.login(world.issue())
			api.holdRequests()
			await vi.advanceTimersByTimeAsync(1)
			expect(a.session.accessToken).toBe(world.validToken)
			const second = b.session.logout()
			await vi.advanceTimersByTimeAsync(1)
			await second
			await vi.advanceTimersByTimeAsync(1)
			expect(a.logouts).toEqual(['remote', 'remote'])
			void slow
		} finally {
			vi.useRealTimers()
		}
	})

	it('onLogout waits at most LOGOUT_SETTLE_MS for a request that does not settle', async () => {
		const { api, tabs } = await setup(2)
		const [a, b] = tabs as [Tab, Tab]
		vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
		try {
			api.holdRequests()
			void a.http.get('/api/never').catch(() => undefined)
			await vi.advanceTimersByTimeAsync(0)
			expect(api.arrived).toHaveLength(1)
			const logout = b.session.logout()
			await vi.advanceTimersByTimeAsync(1)
			await logout
			expect(b.logouts).toEqual(['user'])
			await vi.advanceTimersByTimeAsync(LOGOUT_SETTLE_MS - 10)
			expect(a.logouts).toEqual([])
			await vi.advanceTimersByTimeAsync(10)
			expect(a.logouts).toEqual(['remote'])
		} finally {
			vi.useRealTimers()
		}
	})

	it('detach removes both interceptors', async () => {
		const { world, api, tabs } = await setup(1)
		const tab = tabs[0]!
		expect((await tab.http.get('/api/x')).status).toBe(200)
		expect(api.calls.at(-1)?.authorization).toBe('Bearer access-1')
		tab.detach()
		const error = await errorOf(tab.http.get('/api/y'))
		expect((error as AxiosError).response?.status).toBe(401)
		expect(api.calls.at(-1)?.authorization).toBeNull()
		world.validToken = 'expired'
		// Even a request that carries the old token itself is not refreshed any more.
		const own = await errorOf(tab.http.get('/api/z', { headers: { Authorization: 'Bearer access-1' } }))
		expect((own as AxiosError).response?.status).toBe(401)
		expect(world.refreshCalls).toHaveLength(0)
		expect(world.count('refresh')).toBe(0)
	})

	it('the first requests of a new tab wait for its hello, then carry the token', async () => {
		const { world, api } = await setup(1)
		const late = openTab(world, api.adapter)
		const responses = await Promise.all([late.http.get('/api/1'), late.http.get('/api/2')])
		for (const response of responses) expect(response.status).toBe(200)
		expect(api.calls.map((c) => c.authorization)).toEqual(['Bearer access-1', 'Bearer access-1'])
	})

	it('POST bodies survive the retry', async () => {
		const { world, api, tabs } = await setup(1)
		world.validToken = 'expired'
		const seen: unknown[] = []
		const http = tabs[0]!.http
		http.defaults.adapter = async (config) => {
			seen.push(config.data)
			return api.adapter(config)
		}
		const response = await http.post('/api/items', { name: 'x' })
		expect(response.status).toBe(200)
		expect(seen).toHaveLength(2)
		expect(JSON.parse(String(seen[1]))).toEqual({ name: 'x' })
		expect(world.refreshCalls).toHaveLength(1)
	})
})
