import { fileURLToPath } from 'node:url'
import { expect, test } from '@playwright/test'
import { expireToken, refreshCount, startDevAuthServer } from 'sw-token-broker/testing'

const publicDir = fileURLToPath(new URL('../public', import.meta.url))

for (const [app, path] of [
	['axios, r => r.data', '/'],
	['fetch only', '/fetch'],
] as const) {
	test(`${app}: three tabs, 30 requests after the token expired: all succeed with one refresh`, async ({ context }) => {
		const server = await startDevAuthServer({ staticDir: publicDir, accessTtlMs: 60_000 })
		try {
			const first = await context.newPage()
			await first.goto(`${server.url}${path}`)
			await first.evaluate(async () => {
				await navigator.serviceWorker.ready
			})
			await first.evaluate(() => window.smoke.signIn())
			expect(await first.evaluate(() => window.smoke.token())).toEqual(expect.any(String))

			const others = await Promise.all(
				[2, 3].map(async () => {
					const page = await context.newPage()
					await page.goto(`${server.url}${path}`)
					expect(await page.evaluate(() => window.smoke.token())).toEqual(expect.any(String))
					return page
				}),
			)
			const tabs = [first, ...others]

			server.resetStats()
			expireToken(server)
			const outcomes = await Promise.all(tabs.map((tab) => tab.evaluate((n) => window.smoke.fire(n), 10)))

			console.log(`${app}: ${outcomes.reduce((sum, o) => sum + o.ok, 0)} of 30 requests ok, ${refreshCount(server)} refresh call(s)`)
			for (const outcome of outcomes) expect(outcome).toEqual({ ok: 10, failed: 0, errors: [] })
			expect(refreshCount(server)).toBe(1)
			expect(server.stats().reuseDetections).toBe(0)
			for (const tab of tabs) expect(await tab.evaluate(() => window.smoke.logouts)).toEqual([])
		} finally {
			await server.close()
		}
	})
}
