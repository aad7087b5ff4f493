import type { Page } from '@playwright/test'
import { expect, fire, openSignedInTabs, test } from './fixtures.js'

// 127.0.0.1 and localhost count as secure; a name mapped to loopback does not. This browser sees
// http://swtb.test:<port> as the insecure origin it would be on a LAN: no service worker, no Web Locks.
test('on an insecure origin the fallback still works, single-flight per tab, with one console warning per page', async ({ playwright, browserName, channel, launchOptions, server }) => {
	// The name mapping is a launch option, so this test launches the project's browser itself.
	const browser = await playwright[browserName].launch(
		browserName === 'firefox'
			? { ...launchOptions, channel, firefoxUserPrefs: { 'network.dns.localDomains': 'swtb.test' } }
			: { ...launchOptions, args: [...(launchOptions.args ?? []), '--host-resolver-rules=MAP swtb.test 127.0.0.1'] },
	)
	try {
		const context = await browser.newContext()
		const warnings = new Map<Page, string[]>()
		context.on('console', (message) => {
			const page = message.page()
			if (page === null || message.type() !== 'warning' || !message.text().startsWith('sw-token-broker')) return
			warnings.set(page, [...(warnings.get(page) ?? []), message.text()])
		})
		const [a, b] = (await openSignedInTabs(context, { ...server, url: server.url.replace('127.0.0.1', 'swtb.test') }, 2)) as [Page, Page]
		expect(await a.evaluate(() => [isSecureContext, 'serviceWorker' in navigator, 'locks' in navigator])).toEqual([false, false, false])

		// One tab's 20 concurrent 401s share one refresh, and the other tab adopts its session.
		server.resetStats()
		server.expireAccessTokens()
		expect(await fire(a, 20)).toEqual({ ok: 20, failed: 0, errors: [] })
		const token = (page: Page) => page.evaluate(() => (window as any).swtbDemo.client.getAccessToken() as Promise<string | null>)
		const refreshed = await token(a)
		await expect.poll(() => token(b)).toBe(refreshed)
		expect(await fire(b, 20)).toEqual({ ok: 20, failed: 0, errors: [] })
		expect(server.stats().refreshCalls).toBe(1)
		expect(server.stats().reuseDetections).toBe(0)

		// One warning per document, not per request: tab a loaded the login page and the app, tab b the app.
		expect(warnings.get(a)).toHaveLength(2)
		expect(warnings.get(b)).toHaveLength(1)
		expect(warnings.get(b)![0]).toContain('this origin is not secure')
	} finally {
		await browser.close()
	}
})
