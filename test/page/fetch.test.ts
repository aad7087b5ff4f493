import ky from 'ky'
import { createFetch } from 'ofetch'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { LoggedOutError } from '../../src/core/errors/logged-out-error.js'
import { RefreshRejectedError } from '../../src/core/errors/refresh-rejected-error.js'
import { RequestNotReplayableError } from '../../src/core/errors/request-not-replayable-error.js'
import type { TokenSet } from '../../src/core/protocol.js'
import { deferred, flush } from '../core/helpers.js'
import { APP, FakeWorld, closeClients, errorOf, openClient } from './fake-world.js'

interface Sent {
	url: string
	method: string
	authorization: string | null
	body: string
}

/** globalThis.fetch playing the API: 200 for the token the world accepts, 401 otherwise; it reads every body it is sent. */
function fakeApi(world: FakeWorld) {
	const sent: Sent[] = []
	let hold: Promise<void> | null = null
	const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
		const request = new Request(input, init)
		const body = await request.text()
		if (hold !== null) await hold
		await new Promise((resolve) => setTimeout(resolve, 0))
		const authorization = request.headers.get('Authorization')
		sent.push({ url: request.url, method: request.method, authorization, body })
		const ok = world.validToken !== null && authorization === `Bearer ${world.validToken}`
		return Response.json(ok ? { ok: true, body } : { error: 'invalid_token' }, { status: ok ? 200 : 401 })
	})
	vi.stubGlobal('fetch', fetch)
	return {
		sent,
		count401: () => sent.filter((call) => call.authorization !== `Bearer ${world.validToken}`).length,
		holdRequests(): () => void {
			const gate = deferred<void>()
			hold = gate.promise
			return () => {
				hold = null
				gate.resolve()
			}
		},
	}
}

async function setup(count: number, login: Partial<TokenSet> = {}) {
	const world = new FakeWorld()
	const api = fakeApi(world)
	const tabs = Array.from({ length: count }, () => openClient(world))
	await tabs[0]!.session.login(world.issue(login))
	await flush()
	return { world, api, tabs }
}

afterEach(() => {
	closeClients()
	vi.unstubAllGlobals()
})

describe('client.fetch', () => {
	it('3 tabs × 10 concurrent fetches after the API stops accepting the token: all succeed with exactly 1 refresh', async () => {
		const { world, tabs } = await setup(3)
		world.validToken = 'rotated-by-the-server'
		const responses = await Promise.all(tabs.flatMap((tab) => Array.from({ length: 10 }, (_, index) => tab.client.fetch(`${APP}/api/${index}`))))
		for (const response of responses) expect(response.status).toBe(200)
		expect(world.refreshCalls).toHaveLength(1)
	})

	it('a late 401 for a token the broker has already replaced is retried with the current one, without a second refresh', async () => {
		const { world, api, tabs } = await setup(1)
		const release = api.holdRequests()
		world.validToken = 'rotated-by-the-server'
		const early = tabs[0]!.client.fetch(`${APP}/api/early`)
		await flush()
		// Another request meets the 401 first and refreshes; the early one's 401 arrives afterwards.
		release()
		const [first, second] = await Promise.all([early, tabs[0]!.client.fetch(`${APP}/api/late`)])
		expect(first.status).toBe(200)
		expect(second.status).toBe(200)
		expect(world.refreshCalls).toHaveLength(1)
	})

	it('sends the body again on the retry: string, URLSearchParams, FormData, and a Request built by the caller', async () => {
		const { world, api, tabs } = await setup(1)
		const { fetch } = tabs[0]!.client
		const form = new FormData()
		form.set('field', 'value')
		const cases: Array<() => Promise<Response>> = [
			() => fetch(`${APP}/api/json`, { method: 'POST', body: JSON.stringify({ name: 'x' }), headers: { 'content-type': 'application/json' } }),
			() => fetch(`${APP}/api/form`, { method: 'POST', body: new URLSearchParams({ a: '1' }) }),
			() => fetch(`${APP}/api/multipart`, { method: 'POST', body: form }),
			() => fetch(new Request(`${APP}/api/request`, { method: 'PUT', body: 'as a Request' })),
		]
		for (const send of cases) {
			world.validToken = `rotated-${api.sent.length}`
			const response = await send()
			expect(response.status).toBe(200)
			const [refused, retried] = api.sent.slice(-2) as [Sent, Sent]
			expect(refused.body.length).toBeGreaterThan(0)
			expect(retried.body).toBe(refused.body)
			expect(retried.method).toBe(refused.method)
		}
		expect(world.refreshCalls).toHaveLength(4)
	})

	it('a stream body that got a 401 rejects with RequestNotReplayableError after the refresh: it is never sent again without its body', async () => {
		const { world, api, tabs } = await setup(1)
		world.validToken = 'rotated-by-the-server'
		const stream = new ReadableStream({
			start(controller) {
				controller.enqueue(new TextEncoder().encode('streamed'))
				controller.close()
			},
		})
		const error = await errorOf(tabs[0]!.client.fetch(`${APP}/api/upload`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit))
		expect(error).toBeInstanceOf(RequestNotReplayableError)
		expect(api.sent).toHaveLength(1)
		expect(world.refreshCalls).toHaveLength(1)
		// The refresh was not wasted: the app's next request carries the new token.
		expect((await tabs[0]!.client.fetch(`${APP}/api/next`)).status).toBe(200)
	})

	it('a retried request refused again reaches the caller as that 401 response, with its body readable, after one refresh', async () => {
		const { world, tabs } = await setup(1)
		world.refreshBehaviour = async () => ({ ...world.issue(), accessToken: 'the-api-refuses-this' })
		world.validToken = 'rotated-by-the-server'
		const response = await tabs[0]!.client.fetch(`${APP}/api/x`)
		expect(response.status).toBe(401)
		expect(await response.json()).toEqual({ error: 'invalid_token' })
		expect(world.refreshCalls).toHaveLength(1)
	})

	it('a request to another origin is passed to fetch untouched: no token, and its 401 is not refreshed', async () => {
		const { world, api, tabs } = await setup(1)
		const response = await tabs[0]!.client.fetch('https://other.test/api', { headers: { Authorization: 'Bearer theirs' } })
		expect(response.status).toBe(401)
		expect(api.sent[0]!.authorization).toBe('Bearer theirs')
		expect(world.refreshCalls).toHaveLength(0)
	})

	it('an aborted fetch leaves the queue at once with the AbortError fetch would give; the shared refresh goes on for the others', async () => {
		const { world, tabs } = await setup(2)
		const refresh = deferred<TokenSet>()
		world.refreshBehaviour = () => refresh.promise
		world.validToken = 'rotated-by-the-server'
		const controller = new AbortController()
		const aborted = errorOf(tabs[0]!.client.fetch(`${APP}/api/a`, { signal: controller.signal }))
		const other = tabs[1]!.client.fetch(`${APP}/api/b`)
		await vi.waitFor(() => expect(world.refreshCalls).toHaveLength(1))
		controller.abort()
		const error = await aborted
		expect((error as DOMException).name).toBe('AbortError')
		refresh.resolve(world.issue())
		expect((await other).status).toBe(200)
		expect(world.refreshCalls).toHaveLength(1)
	})

	it('a rejected refresh rejects the fetch with LoggedOutError', async () => {
		const { world, tabs } = await setup(1)
		world.refreshBehaviour = async () => {
			throw new RefreshRejectedError('invalid_grant')
		}
		world.validToken = 'rotated-by-the-server'
		expect(await errorOf(tabs[0]!.client.fetch(`${APP}/api/x`))).toBeInstanceOf(LoggedOutError)
		await vi.waitFor(() => expect(tabs[0]!.logouts).toEqual(['refresh-rejected']))
	})

	it('works as the fetch of ky and ofetch, which see one response per call', async () => {
		const { world, tabs } = await setup(1)
		const api = ky.create({ prefixUrl: `${APP}/api`, fetch: tabs[0]!.client.fetch, retry: 0 })
		world.validToken = 'rotated-by-the-server'
		expect(await api.post('items', { json: { name: 'ky' } }).json()).toEqual({ ok: true, body: '{"name":"ky"}' })
		world.validToken = 'rotated-again'
		const seen: number[] = []
		const ofetch = createFetch({ fetch: tabs[0]!.client.fetch })
		const data = await ofetch(`${APP}/api/items`, {
			method: 'POST',
			body: { name: 'ofetch' },
			retry: 0,
			onResponse: ({ response }) => {
				seen.push(response.status)
			},
		})
		expect(data).toEqual({ ok: true, body: '{"name":"ofetch"}' })
		expect(seen).toEqual([200])
		expect(world.refreshCalls).toHaveLength(2)
	})
})
