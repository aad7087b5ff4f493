import axios, { AxiosError, AxiosHeaders, type AxiosAdapter, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { attachAxios } from '../../src/adapters/axios.js'
import { flush } from '../core/helpers.js'
import { APP, FakeWorld, closeClients, errorOf, openClient } from './fake-world.js'

interface Call {
	url: string
	authorization: string | null
}

/**
 * An axios adapter playing every server: the app's API accepts the world's token; a 401 says
 * `challenge` in WWW-Authenticate when one is given. Other origins answer 401 to anything.
 */
function servers(world: FakeWorld, challenge?: () => string | undefined) {
	const calls: Call[] = []
	const adapter: AxiosAdapter = async (config: InternalAxiosRequestConfig): Promise<AxiosResponse> => {
		const url = axios.getUri(config)
		const header = AxiosHeaders.from(config.headers).get('Authorization')
		const authorization = typeof header === 'string' ? header : null
		calls.push({ url, authorization })
		await new Promise((resolve) => setTimeout(resolve, 0))
		const ok = url.startsWith(APP) && world.validToken !== null && authorization === `Bearer ${world.validToken}`
		const wwwAuthenticate = challenge?.()
		const response: AxiosResponse = {
			data: ok ? { ok: true, url } : { error: 'unauthorized' },
			status: ok ? 200 : 401,
			statusText: ok ? 'OK' : 'Unauthorized',
			headers: ok || wwwAuthenticate === undefined ? {} : { 'www-authenticate': wwwAuthenticate },
			config,
			request: {},
		}
		if (!ok) throw new AxiosError('Request failed with status code 401', AxiosError.ERR_BAD_REQUEST, config, {}, response)
		return response
	}
	return { adapter, calls }
}

async function signedIn() {
	const world = new FakeWorld()
	const tab = openClient(world)
	await tab.session.login(world.issue())
	await flush()
	return { world, tab }
}

afterEach(() => {
	closeClients()
	vi.unstubAllGlobals()
})

describe('axios: the token goes where the request really goes', () => {
	it("an app interceptor registered before attachAxios that moves the request to another tenant's host: that host never gets the token, not even on a retry, and its 401 costs no refresh", async () => {
		const { world, tab } = await signedIn()
		const api = servers(world)
		const http = axios.create({ baseURL: APP, adapter: api.adapter })
		// Multi-tenant apps pick the host per request; registered first, axios runs it after ours.
		http.interceptors.request.use((config) => {
			config.baseURL = 'http://tenant-b.other'
			return config
		})
		attachAxios(tab.client, http)
		const error = await errorOf(http.get('/api/orders').then((r) => r.data))
		expect((error as AxiosError).response?.status).toBe(401)
		expect(api.calls).toEqual([{ url: 'http://tenant-b.other/api/orders', authorization: null }])
		expect(world.refreshCalls).toHaveLength(0)
	})

	it('an app interceptor that rewrites url to an absolute URL elsewhere: no token there', async () => {
		const { world, tab } = await signedIn()
		const api = servers(world)
		const http = axios.create({ baseURL: APP, adapter: api.adapter })
		http.interceptors.request.use((config) => ({ ...config, url: `http://cdn.other${config.url}` }) as InternalAxiosRequestConfig)
		attachAxios(tab.client, http)
		await errorOf(http.get('/api/x').then((r) => r.data))
		expect(api.calls.map((call) => call.authorization)).toEqual([null])
	})

	it('an app interceptor that moves a request onto an authorized origin: it gets the token there, and its 401 is refreshed and retried', async () => {
		const { world, tab } = await signedIn()
		const api = servers(world)
		const http = axios.create({ baseURL: 'http://placeholder.other', adapter: api.adapter })
		http.interceptors.request.use((config) => {
			config.baseURL = APP
			return config
		})
		attachAxios(tab.client, http)
		expect(await http.get('/api/a').then((r) => r.data)).toEqual({ ok: true, url: `${APP}/api/a` })
		world.validToken = 'rotated-by-the-server'
		expect(await http.get('/api/b').then((r) => r.data)).toEqual({ ok: true, url: `${APP}/api/b` })
		expect(api.calls.map((call) => call.authorization)).toEqual(['Bearer access-1', 'Bearer access-1', `Bearer ${world.validToken}`])
		expect(world.refreshCalls).toHaveLength(1)
	})

	it("an app's own Authorization header: replaced by the broker's token where authorize says yes, left as it is everywhere else", async () => {
		const { world, tab } = await signedIn()
		const api = servers(world)
		const http = axios.create({ baseURL: APP, adapter: api.adapter })
		attachAxios(tab.client, http)
		await http.get('/api/mine', { headers: { Authorization: 'Basic YXBwOnNlY3JldA==' } })
		await errorOf(http.get('http://partner.other/api', { headers: { Authorization: 'ApiKey partner-key' } }))
		expect(api.calls).toEqual([
			{ url: `${APP}/api/mine`, authorization: 'Bearer access-1' },
			{ url: 'http://partner.other/api', authorization: 'ApiKey partner-key' },
		])
	})

	it("an interceptor that moves the request elsewhere and sets that host's own credential: the app's header goes, the broker's token does not", async () => {
		const { world, tab } = await signedIn()
		const api = servers(world)
		const http = axios.create({ baseURL: APP, adapter: api.adapter })
		http.interceptors.request.use((config) => {
			config.baseURL = 'http://tenant-b.other'
			config.headers.set('Authorization', 'Bearer tenant-b-key')
			return config
		})
		attachAxios(tab.client, http)
		await errorOf(http.get('/api/x'))
		expect(api.calls.map((call) => call.authorization)).toEqual(['Bearer tenant-b-key'])
	})
})

describe('relative URLs count from document.baseURI, as fetch and XHR resolve them', () => {
	it('a <base href> on a CDN: a relative request goes there without the token', async () => {
		vi.stubGlobal('location', { href: `${APP}/orders`, origin: APP })
		vi.stubGlobal('document', { baseURI: 'http://cdn.other/assets/', addEventListener: () => undefined })
		const { world, tab } = await signedIn()
		const api = servers(world)
		const http = axios.create({ adapter: api.adapter })
		attachAxios(tab.client, http)
		await errorOf(http.get('/api/x').then((r) => r.data))
		expect(api.calls).toEqual([{ url: '/api/x', authorization: null }])
		expect(world.refreshCalls).toHaveLength(0)
	})

	it('client.fetch with a relative URL under a <base href> elsewhere: passed on untouched, without the token', async () => {
		vi.stubGlobal('location', { href: `${APP}/orders`, origin: APP })
		vi.stubGlobal('document', { baseURI: 'http://cdn.other/', addEventListener: () => undefined })
		const sent: Array<{ input: unknown; authorization: string | null }> = []
		vi.stubGlobal('fetch', async (input: unknown, init?: RequestInit) => {
			sent.push({ input, authorization: new Headers(init?.headers).get('Authorization') })
			return new Response(null, { status: 404 })
		})
		const { tab } = await signedIn()
		expect((await tab.client.fetch('/api/x')).status).toBe(404)
		expect(sent).toEqual([{ input: '/api/x', authorization: null }])
	})

	it("a <base href> on the app's own origin: relative requests get the token", async () => {
		vi.stubGlobal('location', { href: 'http://elsewhere.other/', origin: 'http://elsewhere.other' })
		vi.stubGlobal('document', { baseURI: `${APP}/app/`, addEventListener: () => undefined })
		const { world, tab } = await signedIn()
		const api = servers(world)
		const http = axios.create({ adapter: api.adapter })
		attachAxios(tab.client, http)
		await errorOf(http.get('/api/x'))
		expect(api.calls[0]).toEqual({ url: '/api/x', authorization: 'Bearer access-1' })
	})
})

describe('WWW-Authenticate decides whether a 401 is an expired token', () => {
	it('axios: error="invalid_token" is refreshed and retried once', async () => {
		const { world, tab } = await signedIn()
		const api = servers(world, () => 'Bearer realm="api", error="invalid_token", error_description="expired"')
		const http = axios.create({ baseURL: APP, adapter: api.adapter })
		attachAxios(tab.client, http)
		world.validToken = 'rotated-by-the-server'
		expect(await http.get('/api/a').then((r) => r.data)).toEqual({ ok: true, url: `${APP}/api/a` })
		expect(world.refreshCalls).toHaveLength(1)
	})

	it("axios: a 401 whose challenge names another error, or none, is the app's: no refresh, no retry", async () => {
		for (const challenge of ['Bearer realm="api", error="insufficient_scope"', 'Bearer realm="api"', 'Basic realm="reports"']) {
			const { world, tab } = await signedIn()
			const api = servers(world, () => challenge)
			const http = axios.create({ baseURL: APP, adapter: api.adapter })
			attachAxios(tab.client, http)
			// The server refuses this request whatever token it carries (a business rule).
			world.validToken = 'a-token-nobody-has'
			const error = await errorOf(http.get('/api/a').then((r) => r.data))
			expect((error as AxiosError).response?.status).toBe(401)
			expect(api.calls).toHaveLength(1)
			expect(world.refreshCalls).toHaveLength(0)
		}
	})

	it('axios: a 401 without WWW-Authenticate is still taken for an expired token', async () => {
		const { world, tab } = await signedIn()
		const api = servers(world)
		const http = axios.create({ baseURL: APP, adapter: api.adapter })
		attachAxios(tab.client, http)
		world.validToken = 'rotated-by-the-server'
		expect((await http.get('/api/a')).status).toBe(200)
		expect(world.refreshCalls).toHaveLength(1)
	})

	it('client.fetch: the same rule, invalid_token refreshed, any other challenge handed to the caller', async () => {
		const { world, tab } = await signedIn()
		let challenge = 'DPoP error="invalid_token", algs="ES256"'
		const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
			const ok = new Request(input, init).headers.get('Authorization') === `Bearer ${world.validToken}`
			return new Response(null, { status: ok ? 200 : 401, headers: ok ? {} : { 'WWW-Authenticate': challenge } })
		})
		vi.stubGlobal('fetch', fetch)
		world.validToken = 'rotated-by-the-server'
		expect((await tab.client.fetch(`${APP}/api/a`)).status).toBe(200)
		expect(world.refreshCalls).toHaveLength(1)
		expect(fetch).toHaveBeenCalledTimes(2)

		challenge = 'Bearer error="insufficient_scope", scope="admin"'
		world.validToken = 'a-token-nobody-has'
		expect((await tab.client.fetch(`${APP}/api/b`)).status).toBe(401)
		expect(world.refreshCalls).toHaveLength(1)
		expect(fetch).toHaveBeenCalledTimes(3)
	})
})
