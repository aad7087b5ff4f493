import { expect, expectOneRefreshForAllTabs, fire, openSignedInTabs, test } from './fixtures.js'

test.describe('one refresh for all tabs', () => {
	test('5 tabs × 20 concurrent requests after expiry: all succeed with exactly one refresh, over 3 cycles', async ({ context, server }) => {
		const tabs = await openSignedInTabs(context, server, 5)
		for (let cycle = 1; cycle <= 3; cycle++) {
			const elapsed = await expectOneRefreshForAllTabs(server, tabs)
			const stats = server.stats()
			console.log(`cycle ${cycle}: 100 of 100 requests ok in ${elapsed} ms, ${stats.refreshCalls} refresh call, ${stats.api401} API 401s, ${stats.reuseDetections} reuse detections`)
		}
	})

	test('a 401 for a request sent with an older token is retried with the current one, without a refresh', async ({ context, server }) => {
		const [slowTab, otherTab] = await openSignedInTabs(context, server, 2)
		const oldToken = await slowTab!.evaluate(() => (window as any).swtbDemo.client.getAccessToken())
		// The server checks the token after the delay, by which time it has been replaced.
		const slow = slowTab!.evaluate(() => (window as any).swtbDemo.api.get('/api/data?delay=2000').then((data: { ok: boolean }) => (data.ok ? 200 : 0)))
		await expect.poll(() => server.stats().apiCalls).toBeGreaterThanOrEqual(1)
		server.resetStats()
		server.expireAccessTokens()
		expect(await fire(otherTab!, 1)).toEqual({ ok: 1, failed: 0, errors: [] })
		expect(server.stats().refreshCalls).toBe(1)
		const newToken = await otherTab!.evaluate(() => (window as any).swtbDemo.client.getAccessToken())
		expect(newToken).not.toBe(oldToken)

		expect(await slow).toBe(200)
		expect(server.stats().refreshCalls).toBe(1)
		const slowRequests = server.lastApiHeaders().filter((headers) => headers.authorization === `Bearer ${oldToken}`)
		expect(slowRequests.length).toBeGreaterThanOrEqual(1)
		expect(server.lastApiHeaders().at(-1)?.authorization).toBe(`Bearer ${newToken}`)
	})

	test('a retried request that gets 401 again is not refreshed again', async ({ context, server }) => {
		const [tab] = await openSignedInTabs(context, server, 1)
		server.resetStats()
		server.setApiDeny(true)
		const outcome = await fire(tab!, 1)
		expect(outcome).toEqual({ ok: 0, failed: 1, errors: ['ApiError 401'] })
		expect(server.stats().refreshCalls).toBe(1)
		expect(server.stats().apiCalls).toBe(2)
	})
})
