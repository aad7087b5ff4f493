import type { RefreshMode } from '../testing/index.js'
import { expect, fire, openSignedInTabs, test } from './fixtures.js'

test('soak: 10 tabs through 30 expiry cycles with random refresh faults settle every request and log nobody out', async ({ context, server }) => {
	test.setTimeout(240_000)
	const tabs = await openSignedInTabs(context, server, 10)
	for (const tab of tabs) {
		await tab.evaluate(() => {
			const logouts: string[] = []
			Object.defineProperty(window, '__logouts', { value: logouts })
			;(window as any).swtbDemo.client.subscribe((event: { type: string; reason?: string }) => {
				if (event.type === 'logout') logouts.push(event.reason!)
			})
		})
	}
	let seed = 20261127
	const random = () => {
		seed = (seed * 16807) % 2147483647
		return seed / 2147483647
	}
	const faults: RefreshMode[] = ['ok', 'down', 'slow', 'drop', 'garbage']
	const totals = { made: 0, settled: 0, ok: 0, unavailable: 0, other: [] as string[], faults: {} as Record<string, number> }
	server.resetStats()
	for (let cycle = 0; cycle < 30; cycle++) {
		const fault = faults[Math.floor(random() * faults.length)]!
		totals.faults[fault] = (totals.faults[fault] ?? 0) + 1
		server.setRefreshMode(fault, 300)
		server.expireAccessTokens()
		const outcomes = await Promise.all(tabs.map((tab) => fire(tab, 3)))
		for (const outcome of outcomes) {
			totals.made += 3
			totals.settled += outcome.ok + outcome.failed
			totals.ok += outcome.ok
			for (const error of outcome.errors) {
				if (error === 'RefreshUnavailableError') totals.unavailable++
				else totals.other.push(error)
			}
		}
	}
	server.setRefreshMode('ok')
	const logouts = (await Promise.all(tabs.map((tab) => tab.evaluate(() => (window as any).__logouts as string[])))).flat()
	const stats = server.stats()
	console.log(`soak: faults ${JSON.stringify(totals.faults)}; ${totals.made} requests made, ${totals.settled} settled (${totals.ok} ok, ${totals.unavailable} RefreshUnavailableError, ${totals.other.length} other); ${stats.refreshCalls} refresh calls, ${stats.reuseDetections} reuse detections, ${logouts.length} wrongful logouts`)
	expect(totals.settled).toBe(totals.made)
	expect(totals.other).toEqual([])
	expect(stats.reuseDetections).toBe(0)
	expect(logouts).toEqual([])
	// At most one refresh per cycle, and never more than one at once.
	expect(stats.refreshCalls).toBeLessThanOrEqual(30)
	for (const tab of tabs) await expect(tab.locator('#state')).toHaveText('signed in')

	// Once the endpoint is healthy and the backoff (30 s at most) has passed, requests work again.
	const recovery: string[] = []
	try {
		await expect.poll(async () => {
			const outcome = await fire(tabs[0]!, 1)
			recovery.push(outcome.ok === 1 ? 'ok' : outcome.errors.join())
			return outcome.ok
		}, { timeout: 45_000, intervals: [1_000] }).toBe(1)
	} finally {
		console.log(`soak: attempts after the soak until a request works: ${recovery.join(', ')}`)
	}
})
