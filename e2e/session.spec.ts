import { startDevAuthServer } from '../testing/index.js'
import { demoDir, demoReady, expect, fire, fireAcrossNavigation, openSignedInTabs, test } from './fixtures.js'

test('login in one tab reaches every tab; logout in one tab logs out every tab', async ({ context, server }) => {
	const tabs = await Promise.all(
		Array.from({ length: 3 }, async () => {
			const page = await context.newPage()
			await page.goto(`${server.url}/login`)
			await demoReady(page)
			return page
		}),
	)
	await tabs[0]!.getByRole('button', { name: 'Sign in' }).click()
	for (const tab of tabs) {
		await tab.waitForURL(`${server.url}/`)
		await expect(tab.locator('#state')).toHaveText('signed in')
	}
	expect(server.stats().logins).toBe(1)

	const reasons = tabs.map(
		(tab) =>
			new Promise<string>((resolve) => {
				tab.on('console', (message) => {
					if (message.text().startsWith('logout:')) resolve(message.text())
				})
			}),
	)
	for (const tab of tabs) await tab.evaluate(() => (window as any).swtbDemo.client.subscribe((event: { type: string; reason?: string }) => console.log(`${event.type}:${event.reason}`)))
	await tabs[1]!.getByRole('button', { name: 'Log out' }).click()
	for (const tab of tabs) await tab.waitForURL(`${server.url}/login`)
	expect(await Promise.all(reasons)).toEqual(['logout:remote', 'logout:user', 'logout:remote'])
	expect(server.stats().refreshCalls).toBe(0)
})

test('a rejected refresh logs out every tab, rejects queued requests with LoggedOutError, and stops refreshing', async ({ context, server }) => {
	const tabs = await openSignedInTabs(context, server, 3)
	server.resetStats()
	server.revokeAll()
	// A slow answer lets every tab queue its requests on the one refresh before it is rejected.
	server.setRefreshDelay(3_000)
	const outcomes = await Promise.all(tabs.map((tab) => fireAcrossNavigation(tab, 5)))
	for (const outcome of outcomes) expect(outcome).toEqual({ ok: 0, failed: 5, errors: Array(5).fill('LoggedOutError') })
	for (const tab of tabs) await tab.waitForURL(`${server.url}/login`)
	expect(server.stats().refreshCalls).toBe(1)

	// The login page's own client asks the broker again: no refresh reaches the server.
	const error = await tabs[0]!.evaluate(() =>
		(window as any).swtbDemo.client.refresh().then(
			() => 'refreshed',
			(e: Error) => e.name,
		),
	)
	expect(error).toBe('LoggedOutError')
	expect(server.stats().refreshCalls).toBe(1)
	expect(server.stats().reuseDetections).toBe(0)
})

test('a request to another origin carries no Authorization header and its 401 causes no refresh', async ({ context, server }) => {
	const other = await startDevAuthServer({ staticDir: demoDir })
	try {
		const [tab] = await openSignedInTabs(context, server, 1)
		server.resetStats()
		const status = await tab!.evaluate(
			(url) =>
				(window as any).swtbDemo.api.get(`${url}/api/echo`).then(
					() => 200,
					(e: any) => e.status,
				),
			other.url,
		)
		expect(status).toBe(401)
		expect(other.lastApiHeaders()).toHaveLength(1)
		expect(other.lastApiHeaders()[0]!.authorization).toBeUndefined()
		expect(server.stats().refreshCalls).toBe(0)

		expect(await fire(tab!, 1)).toEqual({ ok: 1, failed: 0, errors: [] })
		expect(server.lastApiHeaders().at(-1)?.authorization).toMatch(/^Bearer ey/)
	} finally {
		await other.close()
	}
})

test('a logout the broker never hears of still signs this tab out at once; the other tabs keep the session the broker holds', async ({ context, server }) => {
	await context.addInitScript(() => {
		const post = ServiceWorker.prototype.postMessage
		ServiceWorker.prototype.postMessage = function (this: ServiceWorker, message: any, ...rest: any[]) {
			// The broker is unreachable for this one message, as a stuck or restarting worker would be.
			if ((window as any).__dropLogout === true && message?.type === 'logout') return undefined
			return (post as any).call(this, message, ...rest)
		} as typeof post
	})
	// The page waits a minute for the broker: the tab must not wait for that to sign out.
	const tabs = await openSignedInTabs(context, server, 2, '?timeout=60000')
	await tabs[0]!.evaluate(() => {
		;(window as any).__dropLogout = true
	})
	await tabs[0]!.getByRole('button', { name: 'Log out' }).click()
	await tabs[0]!.waitForURL(`${server.url}/login?timeout=60000`, { timeout: 10_000 })
	await expect(tabs[1]!.locator('#state')).toHaveText('signed in')
	expect(await fire(tabs[1]!, 1)).toEqual({ ok: 1, failed: 0, errors: [] })
})
