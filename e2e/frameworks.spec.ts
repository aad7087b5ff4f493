import type { BrowserContext, Page } from '@playwright/test'
import type { DevAuthServer } from '../testing/index.js'
import { expect, test } from './fixtures.js'

/** Each framework's example app (examples/<name>/), and the query that picks its variant. */
const APPS = [
	{ name: 'React', path: '/examples/react/', interceptor: 'its fetch wrapper' },
	{ name: 'Vue', path: '/examples/vue/', interceptor: 'its composable' },
	{ name: 'Angular with the XHR backend', path: '/examples/angular/', interceptor: 'its HttpInterceptorFn listed before tokenInterceptor' },
	{ name: 'Angular with withFetch()', path: '/examples/angular/?backend=fetch', interceptor: 'its HttpInterceptorFn listed before tokenInterceptor' },
] as const

interface FireOutcome {
	ok: number
	failed: number
	errors: string[]
}

type Example = { swtbExample: { fire(count: number): Promise<FireOutcome>; responses(): number } }

const fire = (page: Page, count: number) => page.evaluate((n) => (window as unknown as Example).swtbExample.fire(n), count)
const responses = (page: Page) => page.evaluate(() => (window as unknown as Example).swtbExample.responses())

async function openApp(context: BrowserContext, server: DevAuthServer, path: string): Promise<Page> {
	const page = await context.newPage()
	await page.goto(`${server.url}${path}`)
	await page.waitForFunction(() => 'swtbExample' in window)
	return page
}

for (const app of APPS) {
	test(`${app.name}: sign in; 3 tabs × 10 requests after expiry, 1 refresh, ${app.interceptor} sees 1 response per call; a retry refused again fails once; a 503 refresh keeps the session; a rejected refresh shows the signed-out UI in every tab`, async ({
		context,
		server,
	}) => {
		// One user's journey in five steps, on a first visit that installs the worker: on a shared CI machine it can take a minute.
		test.setTimeout(120_000)
		const first = await openApp(context, server, app.path)
		await expect(first.locator('#state')).toHaveText('signed-out', { timeout: 30_000 })
		await first.locator('#sign-in').click()
		await expect(first.locator('#state')).toHaveText('signed-in')
		const tabs = [first, ...(await Promise.all([1, 2].map(() => openApp(context, server, app.path))))]
		for (const tab of tabs) await expect(tab.locator('#state')).toHaveText('signed-in', { timeout: 30_000 })

		await test.step('3 tabs × 10 requests after expiry: all get their data with 1 refresh', async () => {
			const before = await Promise.all(tabs.map(responses))
			server.resetStats()
			server.setRefreshDelay(500)
			server.expireAccessTokens()
			const outcomes = await Promise.all(tabs.map((tab) => fire(tab, 10)))
			for (const outcome of outcomes) expect(outcome).toEqual({ ok: 10, failed: 0, errors: [] })
			expect(server.stats().refreshCalls).toBe(1)
			expect(server.stats().reuseDetections).toBe(0)
			// Some calls met a 401 and were retried below the app's layer: it saw one answer for each call.
			expect(server.stats().api401).toBeGreaterThan(0)
			expect((await Promise.all(tabs.map(responses))).map((count, index) => count - before[index]!)).toEqual([10, 10, 10])
			server.setRefreshDelay(0)
		})

		await test.step('the UI loads its data through the same layer', async () => {
			await first.locator('#load').click()
			await expect(first.locator('#data')).toHaveText(/^data #\d+$/)
		})

		await test.step("a retry refused again reaches the app's layer once, as its 401, after 1 refresh", async () => {
			const before = await responses(first)
			server.resetStats()
			server.setApiDeny(true)
			expect(await fire(first, 1)).toEqual({ ok: 0, failed: 1, errors: ['ApiError 401'] })
			expect(server.stats().refreshCalls).toBe(1)
			expect(server.stats().apiCalls).toBe(2)
			expect((await responses(first)) - before).toBe(1)
			server.setApiDeny(false)
		})

		await test.step('a refresh that fails for now (503): the call fails with RefreshUnavailableError, every tab stays signed in, and calls work again once the endpoint heals', async () => {
			server.setRefreshMode('down')
			server.expireAccessTokens()
			const outcome = await fire(first, 1)
			expect(outcome.errors).toHaveLength(1)
			expect(outcome.errors[0]).toMatch(/^RefreshUnavailableError/)
			for (const tab of tabs) await expect(tab.locator('#state')).toHaveText('signed-in')
			server.setRefreshMode('ok')
			// The broker's next attempt is due within 5 s: these join it.
			expect(await fire(tabs[1]!, 3)).toEqual({ ok: 3, failed: 0, errors: [] })
		})

		await test.step('a rejected refresh: the call fails as the session ended, and every tab shows the signed-out UI', async () => {
			server.resetStats()
			server.setRefreshMode('reject')
			server.expireAccessTokens()
			expect(await fire(first, 1)).toEqual({ ok: 0, failed: 1, errors: ['LoggedOutError'] })
			expect(server.stats().refreshCalls).toBe(1)
			for (const tab of tabs) {
				await expect(tab.locator('#state')).toHaveText('signed-out')
				await expect(tab.locator('#sign-in')).toBeVisible()
			}
		})
	})
}
