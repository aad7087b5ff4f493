// @vitest-environment happy-dom
// TestBed compiles its testing module at run time: Angular's JIT compiler must be loaded first.
import '@angular/compiler'
import { EnvironmentInjector, createEnvironmentInjector } from '@angular/core'
import { TestBed } from '@angular/core/testing'
import { HttpClient, HttpErrorResponse, HttpEventType, type HttpInterceptorFn, HttpResponse, provideHttpClient, withInterceptors } from '@angular/common/http'
import { HttpTestingController, type TestRequest, provideHttpClientTesting } from '@angular/common/http/testing'
import { BrowserTestingModule, platformBrowserTesting } from '@angular/platform-browser/testing'
import { firstValueFrom, tap } from 'rxjs'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { tokenInterceptor } from '../../src/angular.js'
import { deferred, flush } from '../core/helpers.js'
import { DPoPKeys } from '../../src/core/dpop/key-ring.js'
import { APP, FakeWorld, closeClients, openClient } from '../page/fake-world.js'

beforeAll(() => {
	TestBed.initTestEnvironment(BrowserTestingModule, platformBrowserTesting())
})

afterEach(() => {
	TestBed.resetTestingModule()
	closeClients()
})

/** A tab: its client, an HttpClient whose chain is the app's interceptor then tokenInterceptor, and the testing backend. */
function openTab(world: FakeWorld) {
	const tab = openClient(world)
	/** What the app's own interceptor, listed first, sees come back: one entry per call, it must be. */
	const seen: string[] = []
	const appInterceptor: HttpInterceptorFn = (request, next) =>
		next(request).pipe(
			tap({
				next: (event) => {
					if (event instanceof HttpResponse) seen.push(`response ${event.status}`)
				},
				error: (error: unknown) => seen.push(error instanceof HttpErrorResponse ? `error ${error.status}` : `error ${(error as Error).name}`),
			}),
		)
	const injector = createEnvironmentInjector([provideHttpClient(withInterceptors([appInterceptor, tokenInterceptor(tab.client)])), provideHttpClientTesting()], TestBed.inject(EnvironmentInjector))
	return { ...tab, http: injector.get(HttpClient), backend: injector.get(HttpTestingController), seen }
}

type Tab = ReturnType<typeof openTab>

/** Plays the API for every request the tabs have open: 200 for the token the world accepts, 401 otherwise. */
function answer(world: FakeWorld, tabs: Tab[], sent: TestRequest[] = []): TestRequest[] {
	for (const tab of tabs) {
		for (const request of tab.backend.match(() => true)) {
			sent.push(request)
			if (request.request.headers.get('Authorization') === `Bearer ${world.validToken}`) request.flush({ ok: true, url: request.request.url })
			else request.flush({ error: 'invalid_token' }, { status: 401, statusText: 'Unauthorized' })
		}
	}
	return sent
}

/** Answers what comes, round after round, until every call has settled. */
async function serve<T>(world: FakeWorld, tabs: Tab[], calls: Promise<T>, sent: TestRequest[] = []): Promise<T> {
	let settled = false
	void calls.finally(() => (settled = true)).catch(() => undefined)
	while (!settled) {
		answer(world, tabs, sent)
		await flush()
	}
	return calls
}

async function signedIn(world: FakeWorld, count: number): Promise<Tab[]> {
	const tabs = Array.from({ length: count }, () => openTab(world))
	await tabs[0]!.client.login(world.issue())
	for (let round = 0; round < 3; round++) await flush()
	return tabs
}

describe('sw-token-broker/angular: tokenInterceptor with HttpTestingController', () => {
	it("3 tabs × 10 calls after the API stops accepting the token: all get their data with 1 refresh, and the app's interceptor listed before it sees 1 response per call", async () => {
		const world = new FakeWorld()
		const tabs = await signedIn(world, 3)
		world.validToken = 'rotated-by-the-server'
		const sent: TestRequest[] = []
		const calls = Promise.all(tabs.flatMap((tab) => Array.from({ length: 10 }, (_, index) => firstValueFrom(tab.http.get<{ ok: boolean; url: string }>(`${APP}/api/${index}`)))))
		const bodies = await serve(world, tabs, calls, sent)
		expect(bodies).toHaveLength(30)
		for (const body of bodies) expect(body.ok).toBe(true)
		expect(world.refreshCalls).toHaveLength(1)
		expect(sent.filter((request) => request.request.headers.get('Authorization') === `Bearer ${world.validToken}`)).toHaveLength(30)
		for (const tab of tabs) expect(tab.seen).toEqual(Array(10).fill('response 200'))
	})

	it('a retry refused again reaches the caller as its 401, once, with no second refresh', async () => {
		const world = new FakeWorld()
		const [tab] = await signedIn(world, 1)
		world.validToken = 'rotated-by-the-server'
		world.refreshBehaviour = async () => ({ accessToken: 'not-accepted-either' })
		const sent: TestRequest[] = []
		const error = await serve(
			world,
			[tab!],
			firstValueFrom(tab!.http.get(`${APP}/api/data`)).then(
				() => null,
				(caught: unknown) => caught,
			),
			sent,
		)
		expect(error).toBeInstanceOf(HttpErrorResponse)
		expect((error as HttpErrorResponse).status).toBe(401)
		expect(world.refreshCalls).toHaveLength(1)
		expect(sent).toHaveLength(2)
		expect(tab!.seen).toEqual(['error 401'])
	})

	it("with observe: 'events', a retried call shows the app one Sent event and one response", async () => {
		const world = new FakeWorld()
		const [tab] = await signedIn(world, 1)
		world.validToken = 'rotated-by-the-server'
		const events: HttpEventType[] = []
		const call = new Promise<void>((resolve, reject) =>
			tab!.http.get(`${APP}/api/data`, { observe: 'events' }).subscribe({ next: (event) => events.push(event.type), error: reject, complete: resolve }),
		)
		const sent: TestRequest[] = []
		await serve(world, [tab!], call, sent)
		expect(sent).toHaveLength(2)
		expect(events).toEqual([HttpEventType.Sent, HttpEventType.Response])
	})

	it('unsubscribing cancels the request on the wire, and one made while the refresh runs leaves it to the others', async () => {
		const world = new FakeWorld()
		const [tab] = await signedIn(world, 1)
		const early = tab!.http.get(`${APP}/api/early`).subscribe()
		const [onWire] = tab!.backend.match(`${APP}/api/early`)
		early.unsubscribe()
		expect(onWire!.cancelled).toBe(true)

		world.validToken = 'rotated-by-the-server'
		const refresh = deferred<void>()
		world.refreshBehaviour = async () => {
			await refresh.promise
			return world.issue()
		}
		const outcomes: string[] = []
		const leaving = tab!.http.get(`${APP}/api/leaving`).subscribe({ next: () => outcomes.push('leaving: data'), error: () => outcomes.push('leaving: error') })
		const staying = firstValueFrom(tab!.http.get<{ ok: boolean }>(`${APP}/api/staying`))
		answer(world, [tab!])
		await flush()
		expect(world.refreshCalls).toHaveLength(1)
		leaving.unsubscribe()
		refresh.resolve()
		const sent: TestRequest[] = []
		expect(await serve(world, [tab!], staying, sent)).toMatchObject({ ok: true })
		expect(sent.map((request) => request.request.url)).toEqual([`${APP}/api/staying`])
		expect(outcomes).toEqual([])
		expect(world.refreshCalls).toHaveLength(1)
	})

	it('a request to an origin `authorize` does not allow goes without the token, and its 401 causes no refresh', async () => {
		const world = new FakeWorld()
		const [tab] = await signedIn(world, 1)
		const sent: TestRequest[] = []
		const error = await serve(
			world,
			[tab!],
			firstValueFrom(tab!.http.get('https://elsewhere.test/api')).then(
				() => null,
				(caught: unknown) => caught,
			),
			sent,
		)
		expect((error as HttpErrorResponse).status).toBe(401)
		expect(sent.map((request) => request.request.headers.has('Authorization'))).toEqual([false])
		expect(world.refreshCalls).toHaveLength(0)
	})
})

describe('tokenInterceptor with a DPoP-bound session', () => {
	const nonceOf = (request: TestRequest) => (JSON.parse(Buffer.from(request.request.headers.get('DPoP')!.split('.')[1]!, 'base64url').toString()) as { nonce?: string }).nonce

	it("an API's use_dpop_nonce 401 is sent once more with the nonce, below the app's interceptor, and is no reason to refresh", async () => {
		const world = new FakeWorld(2_000, undefined, new DPoPKeys())
		const tab = openTab(world)
		await tab.session.exchange({ url: `${APP}/login` })
		await flush()
		const sent: TestRequest[] = []
		const call = firstValueFrom(tab.http.get<{ ok: boolean }>(`${APP}/api/data`))
		let settled = false
		void call.finally(() => (settled = true)).catch(() => undefined)
		while (!settled) {
			for (const request of tab.backend.match(() => true)) {
				sent.push(request)
				if (nonceOf(request) === 'api-nonce') request.flush({ ok: true })
				else request.flush({ error: 'use_dpop_nonce' }, { status: 401, statusText: 'Unauthorized', headers: { 'WWW-Authenticate': 'DPoP error="use_dpop_nonce"', 'DPoP-Nonce': 'api-nonce' } })
			}
			await flush()
		}
		expect(await call).toEqual({ ok: true })
		expect(sent.map((request) => [request.request.headers.get('Authorization'), nonceOf(request)])).toEqual([
			[`DPoP ${world.validToken}`, undefined],
			[`DPoP ${world.validToken}`, 'api-nonce'],
		])
		expect(tab.seen).toEqual(['response 200'])
		expect(world.refreshCalls).toHaveLength(0)
	})
})
