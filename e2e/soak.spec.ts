import type { RefreshMode } from '../testing/index.js'
import { expect, fire, openSignedInTabs, test } from './fixtures.js'

test('soak: 10 tabs through 30 expiry cycles with random refresh faults settle every request and log nobody out', async ({ context, server }) => {
	// About 20 of the 30 cycles follow a failed refresh, whose next attempt the broker holds back
	// 2–5 s by design: alone the soak takes ~3.7 min in Firefox, and more beside another worker.
	test.setTimeout(420_000)
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
				else totals.other.push(`${error} (cycle ${cycle}, ${fault})`)
			}
		}
	}
	server.setRefreshMode('ok')
	const logouts = (await Promise.all(tabs.map((tab) => tab.evaluate(() => (window as any).__logouts as string[])))).flat()
	const stats = server.stats()
	console.log(
		`soak: faults ${JSON.stringify(totals.faults)}; ${totals.made} requests made, ${totals.settled} settled (${totals.ok} ok, ${totals.unavailable} RefreshUnavailableError, ${totals.other.length} other); ${stats.refreshCalls} refresh calls, ${stats.reuseDetections} reuse detections, ${logouts.length} wrongful logouts`,
	)
	expect(totals.settled).toBe(totals.made)
	expect(totals.other).toEqual([])
	expect(stats.reuseDetections).toBe(0)
	expect(logouts).toEqual([])
	// At most two refreshes per cycle: its first attempt, and the next one, which the cycle's
	// requests that came after the first had failed join instead of being refused.
	expect(stats.refreshCalls).toBeLessThanOrEqual(2 * 30)
	for (const tab of tabs) await expect(tab.locator('#state')).toHaveText('signed in')

	// Once the endpoint is healthy, requests work again: they join the broker's next attempt, due within 5 s.
	const recovery: string[] = []
	try {
		await expect
			.poll(
				async () => {
					const outcome = await fire(tabs[0]!, 1)
					recovery.push(outcome.ok === 1 ? 'ok' : outcome.errors.join())
					return outcome.ok
				},
				{ timeout: 20_000, intervals: [1_000] },
			)
			.toBe(1)
	} finally {
		console.log(`soak: attempts after the soak until a request works: ${recovery.join(', ')}`)
	}
})

/**
 * Figures, not timed assertions: for every fault window, how long after the endpoint heals the
 * first request succeeds, whether requests made 5 s or more after it fail, and how many refresh
 * attempts per second the endpoint saw while failing (from one browser, all tabs together).
 */
test('soak: after fault windows of any length requests heal; the figures say how fast and how hard the endpoint was tried', async ({ context, server }) => {
	test.setTimeout(420_000)
	const tabs = await openSignedInTabs(context, server, 4)
	const windows: Array<{ fault: RefreshMode; ms: number; retryAfter?: number }> = [
		{ fault: 'down', ms: 3_000 },
		{ fault: 'down', ms: 20_000 },
		{ fault: 'drop', ms: 12_000 },
		{ fault: 'garbage', ms: 8_000 },
		{ fault: 'hang', ms: 15_000 },
		{ fault: 'busy', ms: 10_000, retryAfter: 3 },
		{ fault: 'down', ms: 45_000 },
	]
	const FIRE_EVERY_MS = 250
	const AFTER_HEAL_MS = 8_000
	const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
	const report: string[] = []
	const problems: string[] = []
	let next = 0
	for (const window of windows) {
		server.setRetryAfter(window.retryAfter)
		server.setRefreshMode(window.fault, 300)
		server.expireAccessTokens()
		const startedAt = Date.now()
		const requests: Array<Promise<{ madeAt: number; settledAt: number; ok: boolean; error?: string }>> = []
		const shoot = () => {
			const tab = tabs[next++ % tabs.length]!
			const madeAt = Date.now()
			requests.push(
				fire(tab, 1).then(
					(outcome) => ({ madeAt, settledAt: Date.now(), ok: outcome.ok === 1, ...(outcome.errors[0] === undefined ? {} : { error: outcome.errors[0] }) }),
					(error: unknown) => ({ madeAt, settledAt: Date.now(), ok: false, error: String(error) }),
				),
			)
		}
		while (Date.now() - startedAt < window.ms) {
			shoot()
			await sleep(FIRE_EVERY_MS)
		}
		const healedAt = Date.now()
		server.setRefreshMode('ok')
		server.setRetryAfter(undefined)
		while (Date.now() - healedAt < AFTER_HEAL_MS) {
			shoot()
			await sleep(FIRE_EVERY_MS)
		}
		const outcomes = await Promise.all(requests)
		const attempts = server.refreshCallTimes().filter((at) => at >= startedAt && at < healedAt).length
		const firstOk = Math.min(...outcomes.filter((o) => o.ok && o.settledAt >= healedAt).map((o) => o.settledAt))
		const late = outcomes.filter((o) => o.madeAt >= healedAt + 5_000)
		const lateFailed = late.filter((o) => !o.ok)
		for (const o of outcomes) if (!o.ok && o.error !== 'RefreshUnavailableError') problems.push(`${window.fault}: ${o.error}`)
		report.push(
			`${window.fault}${window.retryAfter === undefined ? '' : ` (Retry-After ${window.retryAfter} s)`} for ${(window.ms / 1000).toFixed(0)} s: ` +
				`${attempts} attempts (${(attempts / (window.ms / 1000)).toFixed(2)}/s), first success ${Number.isFinite(firstOk) ? `${firstOk - healedAt} ms` : 'never'} after healing, ` +
				`${lateFailed.length} of ${late.length} requests made ≥ 5 s after healing failed; ${outcomes.filter((o) => o.ok).length}/${outcomes.length} ok overall`,
		)
	}
	console.log(`soak heal:\n  ${report.join('\n  ')}`)
	const logouts = (await Promise.all(tabs.map((tab) => tab.locator('#state').textContent()))).filter((state) => state !== 'signed in')
	expect(problems).toEqual([])
	expect(server.stats().reuseDetections).toBe(0)
	expect(logouts).toEqual([])
})
