import axios, { AxiosHeaders, type AxiosAdapter, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { attachAxios } from '../../src/adapters/axios.js'
import { DPoPKeys } from '../../src/core/dpop/key-ring.js'
import { dpopVerifier } from '../../server/dpop-verifier.js'
import { flush } from '../core/helpers.js'
import { APP, FakeWorld, closeClients, openClient } from './fake-world.js'

interface Seen {
	method: string
	url: string
	authorization: string | null
	verdict: string
}

/**
 * A resource server as RFC 9449 §7 has it: `Authorization: DPoP <token>` and a proof bound to the
 * token (ath) and to its key (cnf.jkt: here the key the broker holds), with an optional nonce.
 */
function dpopApi(world: FakeWorld, options: { nonce?: string; clockSkewMs?: number } = {}) {
	const serverNow = () => Date.now() + (options.clockSkewMs ?? 0)
	const verifier = dpopVerifier({ now: serverNow })
	const seen: Seen[] = []
	const answer = async (method: string, url: string, header: (name: string) => string | null): Promise<{ status: number; headers: Record<string, string> }> => {
		const authorization = header('authorization')
		const token = /^DPoP (\S+)$/.exec(authorization ?? '')?.[1]
		const verdict = await verifier.verify(header('dpop') ?? undefined, {
			method,
			url,
			...(token === undefined ? {} : { accessToken: token }),
			jkt: world.dpop!.current!.jkt,
			...(options.nonce === undefined ? {} : { nonce: options.nonce }),
		})
		const outcome = token === undefined ? 'no DPoP token' : !verdict.ok ? verdict.error : token !== world.validToken ? 'invalid_token' : 'ok'
		seen.push({ method, url, authorization, verdict: outcome })
		if (outcome === 'ok') return { status: 200, headers: {} }
		if (outcome === 'use_dpop_nonce') return { status: 401, headers: { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': options.nonce! } }
		return { status: 401, headers: { 'www-authenticate': `DPoP error="${outcome === 'invalid_token' ? 'invalid_token' : 'invalid_dpop_proof'}"` } }
	}
	vi.stubGlobal(
		'fetch',
		vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
			const request = new Request(input, init)
			const { status, headers } = await answer(request.method, request.url, (name) => request.headers.get(name))
			return new Response(JSON.stringify({ status }), { status, headers: { 'content-type': 'application/json', date: new Date(serverNow()).toUTCString(), ...headers } })
		}),
	)
	const adapter: AxiosAdapter = async (config: InternalAxiosRequestConfig): Promise<AxiosResponse> => {
		// As XHR and fetch resolve a relative URL: from the document's base URL.
		const url = new URL(config.url ?? '', config.baseURL ?? globalThis.document?.baseURI).href
		const { status, headers } = await answer((config.method ?? 'get').toUpperCase(), url, (name) => config.headers.get(name)?.toString() ?? null)
		const response: AxiosResponse = { data: { status }, status, statusText: '', headers: new AxiosHeaders(headers), config }
		if (status >= 400) throw Object.assign(new Error(`status ${status}`), { response, isAxiosError: true, config })
		return response
	}
	return { seen, adapter }
}

async function signedIn(tabs = 1) {
	const world = new FakeWorld(2_000, undefined, new DPoPKeys())
	const clients = Array.from({ length: tabs }, () => openClient(world))
	await clients[0]!.session.exchange({ url: `${APP}/login` })
	await flush()
	return { world, clients }
}

afterEach(() => {
	closeClients()
	vi.unstubAllGlobals()
})

describe('page side with DPoP', () => {
	it('client.fetch sends Authorization: DPoP and a proof the API verifies (htu without the query)', async () => {
		const { world, clients } = await signedIn()
		const api = dpopApi(world)
		const response = await clients[0]!.client.fetch(`${APP}/api/orders?page=2#x`, { method: 'POST', body: 'x' })
		expect(response.status).toBe(200)
		expect(api.seen).toEqual([{ method: 'POST', url: `${APP}/api/orders?page=2#x`, authorization: `DPoP ${world.validToken}`, verdict: 'ok' }])
	})

	it('attachAxios sends DPoP-bound requests the API verifies, r => r.data', async () => {
		const { world, clients } = await signedIn()
		const api = dpopApi(world)
		const http = axios.create({ baseURL: APP, adapter: api.adapter })
		attachAxios(clients[0]!.client, http)
		http.interceptors.response.use((r) => r.data)
		expect(await http.get('/api/data', { params: { q: 1 } })).toEqual({ status: 200 })
		expect(api.seen.map((s) => s.verdict)).toEqual(['ok'])
		expect(api.seen[0]!.authorization).toBe(`DPoP ${world.validToken}`)
	})

	it('an API nonce costs one extra trip per tab, and no refresh; later requests carry it', async () => {
		const { world, clients } = await signedIn()
		const api = dpopApi(world, { nonce: 'api-nonce-1' })
		const first = await clients[0]!.client.fetch(`${APP}/api/a`)
		expect(first.status).toBe(200)
		const more = await Promise.all(Array.from({ length: 5 }, () => clients[0]!.client.fetch(`${APP}/api/b`)))
		for (const response of more) expect(response.status).toBe(200)
		expect(api.seen.map((s) => s.verdict)).toEqual(['use_dpop_nonce', ...Array(6).fill('ok')])
		expect(world.refreshCalls).toHaveLength(0)
	})

	it('under a <base href> the proof names the URL the request really goes to (htu), as fetch and XHR resolve it', async () => {
		vi.stubGlobal('location', { href: `${APP}/orders/`, origin: APP })
		vi.stubGlobal('document', { baseURI: `${APP}/app/`, addEventListener: () => undefined })
		const { world, clients } = await signedIn()
		const api = dpopApi(world)
		const http = axios.create({ adapter: api.adapter })
		attachAxios(clients[0]!.client, http)
		await http.get('api/a')
		expect(api.seen).toEqual([{ method: 'GET', url: `${APP}/app/api/a`, authorization: `DPoP ${world.validToken}`, verdict: 'ok' }])
	})

	it('the same through axios: the nonce 401 is retried below the interceptors, without a refresh', async () => {
		const { world, clients } = await signedIn()
		const api = dpopApi(world, { nonce: 'api-nonce-2' })
		const http = axios.create({ baseURL: APP, adapter: api.adapter })
		attachAxios(clients[0]!.client, http)
		const seenByApp: number[] = []
		http.interceptors.response.use((r) => {
			seenByApp.push(r.status)
			return r
		})
		await http.get('/api/a')
		expect(api.seen.map((s) => s.verdict)).toEqual(['use_dpop_nonce', 'ok'])
		expect(seenByApp).toEqual([200])
		expect(world.refreshCalls).toHaveLength(0)
	})

	it('an API whose clock is 5 min ahead: the first proof is refused, the Date header corrects the clock, one more trip, no refresh', async () => {
		const { world, clients } = await signedIn()
		const api = dpopApi(world, { clockSkewMs: 5 * 60_000 })
		expect((await clients[0]!.client.fetch(`${APP}/api/a`)).status).toBe(200)
		expect((await clients[0]!.client.fetch(`${APP}/api/b`)).status).toBe(200)
		expect(api.seen.map((s) => s.verdict)).toEqual(['invalid_dpop_proof', 'ok', 'ok'])
		expect(world.refreshCalls).toHaveLength(0)
	})

	it('an invalid_token 401 takes the usual path: one refresh for all tabs, one retry, each with a fresh proof', async () => {
		const { world, clients } = await signedIn(3)
		const api = dpopApi(world)
		world.validToken = 'rotated-by-the-server'
		const responses = await Promise.all(clients.flatMap((tab) => Array.from({ length: 4 }, () => tab.client.fetch(`${APP}/api/data`))))
		for (const response of responses) expect(response.status).toBe(200)
		expect(world.refreshCalls).toHaveLength(1)
		expect(world.refreshCalls[0]!.dpop?.jkt).toBe(world.dpop!.current!.jkt)
		expect(api.seen.filter((s) => s.verdict === 'ok')).toHaveLength(12)
		expect(api.seen.every((s) => s.verdict === 'ok' || s.verdict === 'invalid_token')).toBe(true)
	})

	it('without DPoP the page sends Bearer and no DPoP header', async () => {
		const world = new FakeWorld()
		const tab = openClient(world)
		await tab.session.login(world.issue())
		await flush()
		const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
			const request = new Request(input, init)
			return new Response(null, { status: request.headers.get('authorization') === `Bearer ${world.validToken}` && !request.headers.has('dpop') ? 204 : 401 })
		})
		vi.stubGlobal('fetch', fetch)
		expect((await tab.client.fetch(`${APP}/api/x`)).status).toBe(204)
		expect(tab.session.dpop).toBeUndefined()
	})
})
