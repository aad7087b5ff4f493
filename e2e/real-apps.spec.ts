import { demoReady, expect, expectOneRefreshForAllTabs, fire, openSignedInTabs, test } from './fixtures.js'

/** What the demo page reports about its client: which host it uses and when that was decided. */
const connected = (page: import('@playwright/test').Page) => page.evaluate(() => (window as any).swtbDemo.connected as { host?: string; afterMs?: number })

test.describe('fits the code real apps write', () => {
	for (const adapter of ['xhr', 'fetch'] as const) {
		test(`axios with the ${adapter} adapter, an error normaliser before attachAxios and r => r.data after: 3 tabs × 20 get their data after expiry with one refresh`, async ({ context, server }) => {
			const tabs = await openSignedInTabs(context, server, 3, `?adapter=${adapter}`)
			await expectOneRefreshForAllTabs(server, tabs, 20)
			// A retry refused again reaches the app as its own error type, once.
			server.resetStats()
			server.setApiDeny(true)
			expect(await fire(tabs[0]!, 1)).toEqual({ ok: 0, failed: 1, errors: ['ApiError 401'] })
			expect(server.stats().refreshCalls).toBe(1)
			expect(server.stats().apiCalls).toBe(2)
		})
	}

	test('ky over client.fetch: 5 tabs × 20 after expiry, all succeed with one refresh', async ({ context, server }) => {
		const tabs = await openSignedInTabs(context, server, 5)
		const elapsed = await expectOneRefreshForAllTabs(server, tabs, 20, 'ky')
		console.log(`ky over client.fetch: 100 of 100 requests ok in ${elapsed} ms, 1 refresh call`)
	})

	test('client.fetch sends a POST body again on the retry', async ({ context, server }) => {
		const [tab] = await openSignedInTabs(context, server, 1)
		server.resetStats()
		server.expireAccessTokens()
		const echoed = await tab!.evaluate(async () => {
			const response = await (window as any).swtbDemo.client.fetch('/api/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ order: 42 }) })
			return { status: response.status, body: (await response.json()).body }
		})
		expect(echoed).toEqual({ status: 200, body: { order: 42 } })
		expect(server.stats().refreshCalls).toBe(1)
		expect(server.stats().api401).toBe(1)
	})

	test('React: useSyncExternalStore(client.subscribe, () => client.state) follows a sign-in in another tab, and TanStack Query fetches through client.fetch', async ({ context, server }) => {
		const react = await context.newPage()
		await react.goto(`${server.url}/react`)
		await expect(react.locator('#react-state')).toHaveText('signed-out')
		await expect(react.locator('#react-data')).toHaveText('…')

		await openSignedInTabs(context, server, 1)
		await expect(react.locator('#react-state')).toHaveText('signed-in')
		await expect(react.locator('#react-data')).toHaveText(/^data #\d+$/)

		server.resetStats()
		server.expireAccessTokens()
		const before = await react.locator('#react-data').textContent()
		await react.locator('#react-refetch').click()
		await expect(react.locator('#react-data')).not.toHaveText(before!)
		await expect(react.locator('#react-data')).toHaveText(/^data #\d+$/)
		expect(server.stats().refreshCalls).toBe(1)
		// The snapshot keeps its identity: a refresh re-renders the session card once, not on every read.
		const renders = await react.evaluate(() => (window as any).swtbDemo.renders() as number)
		expect(renders).toBeLessThanOrEqual(10)
	})
})

test('5 tabs that open and register the worker at once, on a first visit: login in one reaches all, none hangs', async ({ context, server }) => {
	const started = Date.now()
	const tabs = await Promise.all(
		Array.from({ length: 5 }, async () => {
			const page = await context.newPage()
			await page.goto(`${server.url}/login`)
			await demoReady(page)
			return page
		}),
	)
	await expect.poll(() => Promise.all(tabs.map((tab) => connected(tab).then((c) => c.host))), { timeout: 30_000 }).toEqual(Array(5).fill('service-worker'))
	await tabs[0]!.getByRole('button', { name: 'Sign in' }).click()
	for (const tab of tabs) await expect(tab.locator('#state')).toHaveText('signed in', { timeout: 30_000 })
	console.log(`5 tabs registering at once: all signed in ${Date.now() - started} ms after they opened`)
	await expectOneRefreshForAllTabs(server, tabs, 10)
})

test.describe('no service worker registered', () => {
	test('without a fallback, the client decides within 1 s and login() rejects with NoServiceWorkerError', async ({ page, server }) => {
		await page.goto(`${server.url}/login?worker=none&fallback=none`)
		await demoReady(page)
		const outcome = await page.evaluate(async () => {
			const started = performance.now()
			const error = await (window as any).swtbDemo.client.login({ accessToken: 'a' }).then(
				() => 'resolved',
				(e: Error) => e.name,
			)
			return { error, ms: performance.now() - started }
		})
		expect(outcome.error).toBe('NoServiceWorkerError')
		await expect.poll(() => connected(page)).toMatchObject({ host: 'none' })
		const { afterMs } = await connected(page)
		console.log(`no worker, no fallback: host "none" after ${afterMs} ms; login() rejected after ${Math.round(outcome.ms)} ms`)
		expect(afterMs).toBeLessThanOrEqual(1_500)
		expect(await page.evaluate(() => (window as any).swtbDemo.client.state.status)).toBe('signed-out')
	})

	test('with a fallback, the client says "in-page" within 1 s, and 3 tabs share one refresh', async ({ context, server }) => {
		const tabs = await openSignedInTabs(context, server, 3, '?worker=none')
		for (const tab of tabs) {
			expect(await tab.evaluate(() => navigator.serviceWorker.controller)).toBeNull()
			const { host, afterMs } = await connected(tab)
			expect(host).toBe('in-page')
			expect(afterMs).toBeLessThanOrEqual(1_500)
		}
		await expectOneRefreshForAllTabs(server, tabs, 10)
	})
})
