import { fileURLToPath } from 'node:url'
import { type BrowserContext, type Page, test as base, expect } from '@playwright/test'
import { type DevAuthServer, startDevAuthServer } from '../testing/index.js'

export { hardReload, stopServiceWorkers } from '../testing/index.js'

export { expect }

export const demoDir = fileURLToPath(new URL('../dist-demo', import.meta.url))

/** How the demo page makes its requests: its axios instance, ky over client.fetch, or client.fetch itself. */
export type Via = 'axios' | 'ky' | 'fetch'

export interface FireOutcome {
	ok: number
	failed: number
	errors: string[]
}

/** Each test gets its own dev server on a free port (a new origin), stopped when the test ends. */
export const test = base.extend<{ server: DevAuthServer }>({
	server: async ({}, use) => {
		const server = await startDevAuthServer({ staticDir: demoDir, accessTtlMs: 60_000 })
		await use(server)
		await server.close()
	},
})

/** Resolves once the demo page has its client and knows whether it is signed in. */
export async function demoReady(page: Page): Promise<void> {
	await page.waitForFunction(() => 'swtbDemo' in window)
}

export async function signIn(context: BrowserContext, server: DevAuthServer, query = ''): Promise<Page> {
	const page = await context.newPage()
	await page.goto(`${server.url}/login${query}`)
	await demoReady(page)
	await page.getByRole('button', { name: 'Sign in' }).click()
	await page.waitForURL(`${server.url}/${query}`)
	await expect(page.locator('#state')).toHaveText('signed in')
	return page
}

/** Opens `count` signed-in tabs: the first signs in, the others just open the app. */
export async function openSignedInTabs(context: BrowserContext, server: DevAuthServer, count: number, query = ''): Promise<Page[]> {
	const first = await signIn(context, server, query)
	const others = await Promise.all(
		Array.from({ length: count - 1 }, async () => {
			const page = await context.newPage()
			await page.goto(`${server.url}/${query}`)
			// Tabs opening at once, like a restored browser session, queue for one worker thread on a shared CI machine.
			await expect(page.locator('#state')).toHaveText('signed in', { timeout: 30_000 })
			return page
		}),
	)
	return [first, ...others]
}

/**
 * Fires n requests in the page and reports through a binding: the report leaves the page in
 * the same task the requests settle in, so a logout's navigation cannot swallow it.
 */
export async function fire(page: Page, count: number, via: Via = 'axios'): Promise<FireOutcome> {
	return page.evaluate(([n, how]) => (window as unknown as { swtbDemo: { fire(n: number, path: string, via: Via): Promise<FireOutcome> } }).swtbDemo.fire(n, '/api/data', how), [count, via] as const)
}

/**
 * The core claim, as every mode checks it: the server expires the token under every tab, each
 * tab fires `perTab` requests at once, all succeed, and the server saw one refresh and no reuse.
 * The refresh answers after 500 ms, so every tab's 401s arrive while it runs: without
 * single-flight across tabs, each tab would refresh. Returns how long the tabs took.
 */
export async function expectOneRefreshForAllTabs(server: DevAuthServer, tabs: Page[], perTab = 20, via: Via = 'axios'): Promise<number> {
	server.resetStats()
	server.setRefreshDelay(500)
	server.expireAccessTokens()
	const started = Date.now()
	const outcomes = await Promise.all(tabs.map((tab) => fire(tab, perTab, via)))
	const elapsed = Date.now() - started
	for (const outcome of outcomes) expect(outcome).toEqual({ ok: perTab, failed: 0, errors: [] })
	expect(server.stats().refreshCalls).toBe(1)
	expect(server.stats().refreshSuccesses).toBe(1)
	expect(server.stats().reuseDetections).toBe(0)
	server.setRefreshDelay(0)
	return elapsed
}

let reportId = 0

/**
 * Like fire(), for requests whose outcome makes the tab leave the page (a logout). The page
 * writes its report to sessionStorage, which the tab keeps across the navigation; a report sent
 * to the test directly could be dropped with the page's context.
 */
export async function fireAcrossNavigation(page: Page, count: number, path = '/api/data'): Promise<FireOutcome> {
	const key = `swtb-test-report-${++reportId}`
	await page.evaluate(
		([n, storageKey, url]) => {
			const demo = (window as unknown as { swtbDemo: { fire(n: number, path: string): Promise<FireOutcome> } }).swtbDemo
			void demo.fire(n, url).then((outcome) => sessionStorage.setItem(storageKey, JSON.stringify(outcome)))
		},
		[count, key, path] as const,
	)
	let report: string | null = null
	await expect
		.poll(
			async () => {
				report = await page.evaluate((storageKey) => sessionStorage.getItem(storageKey), key).catch(() => null)
				return report
			},
			{ timeout: 30_000, intervals: [100] },
		)
		.not.toBeNull()
	return JSON.parse(report!) as FireOutcome
}
