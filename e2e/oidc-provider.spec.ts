import type { BrowserContext, Page } from '@playwright/test'
import { type DevAuthServer, type OidcProvider, startOidcProvider } from '../testing/index.js'
import { demoReady, expect, fire, fireAcrossNavigation, test as base } from './fixtures.js'
import { readableByScript, recordMessages } from './page-secrets.js'

/**
 * The core scenarios against a real OpenID provider (oidc-provider): the demo app and its API
 * stay on the dev server, sign-in, refresh and revocation happen at the provider, cross-origin.
 * The API checks the provider's opaque access tokens by introspection.
 */
const test = base.extend<{ idp: OidcProvider; idpAccessTtlMs: number }>({
	idpAccessTtlMs: [60_000, { option: true }],
	idp: async ({ server, idpAccessTtlMs }, use) => {
		const idp = await startOidcProvider({
			accessTtlMs: idpAccessTtlMs,
			// As demo/idp.ts builds it.
			redirectUris: (issuer) => [`${server.url}/login?idp=${encodeURIComponent(issuer)}`],
		})
		server.useIssuer(idp)
		await use(idp)
		await idp.close()
	},
})

const modeQuery = (idp: OidcProvider) => `?idp=${encodeURIComponent(idp.issuer)}`

/** Signs in the way an app's test would: headless at the provider, then the broker redeems the code. */
async function signInHeadless(context: BrowserContext, server: DevAuthServer, idp: OidcProvider): Promise<Page> {
	const page = await context.newPage()
	await page.goto(`${server.url}/login${modeQuery(idp)}`)
	await demoReady(page)
	const { exchange } = await idp.signIn()
	await page.evaluate((request) => (window as any).swtbDemo.client.exchange(request), exchange)
	await page.waitForURL(`${server.url}/${modeQuery(idp)}`)
	await expect(page.locator('#state')).toHaveText('signed in')
	return page
}

async function openTabs(context: BrowserContext, server: DevAuthServer, idp: OidcProvider, count: number): Promise<Page[]> {
	const first = await signInHeadless(context, server, idp)
	const others = await Promise.all(
		Array.from({ length: count - 1 }, async () => {
			const page = await context.newPage()
			await page.goto(`${server.url}/${modeQuery(idp)}`)
			await expect(page.locator('#state')).toHaveText('signed in', { timeout: 30_000 })
			return page
		}),
	)
	return [first, ...others]
}

/** Once subscribed in the tab: `reason` settles with the reason of the first logout its client reports. */
async function watchLogout(tab: Page): Promise<{ reason: Promise<string> }> {
	const reason = new Promise<string>((resolve) => {
		tab.on('console', (message) => {
			if (message.text().startsWith('logout:')) resolve(message.text().slice('logout:'.length))
		})
	})
	await tab.evaluate(() =>
		(window as any).swtbDemo.client.subscribe((event: { type: string; reason?: string }) => {
			if (event.type === 'logout') console.log(`logout:${event.reason}`)
		}),
	)
	return { reason }
}

/** What the token endpoint answers to a refresh with this token, asked directly (not through a browser). */
async function refreshAnswer(idp: OidcProvider, refreshToken: string): Promise<{ status: number; error?: string }> {
	const response = await fetch(idp.tokenEndpoint, {
		method: 'POST',
		headers: { 'content-type': 'application/x-www-form-urlencoded' },
		body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: idp.clientId }),
	})
	const body = (await response.json()) as { error?: string }
	return { status: response.status, ...(body.error === undefined ? {} : { error: body.error }) }
}

test('OpenID provider: sign-in at its page with code + PKCE; the broker redeems the code and the API accepts the token', async ({ context, server, idp }) => {
	const page = await context.newPage()
	await page.goto(`${server.url}/${modeQuery(idp)}`)
	await page.waitForURL(`${server.url}/login${modeQuery(idp)}`)
	await demoReady(page)
	await page.getByRole('button', { name: 'Sign in' }).click()
	await page.waitForURL(`${idp.issuer}/interaction/**`)
	await page.getByRole('button', { name: 'Sign in at the provider' }).click()
	await page.waitForURL(`${server.url}/${modeQuery(idp)}`)
	await expect(page.locator('#state')).toHaveText('signed in')

	expect(idp.stats().signIns).toBe(1)
	expect(idp.issuedRefreshTokens()).toHaveLength(1)
	expect(await fire(page, 5)).toEqual({ ok: 5, failed: 0, errors: [] })
	expect(server.stats().api401).toBe(0)
})

test('OpenID provider: 5 tabs × 20 requests after the access tokens expired: all succeed with one refresh', async ({ context, server, idp }) => {
	const tabs = await openTabs(context, server, idp, 5)
	idp.resetStats()
	server.resetStats()
	// Every tab's 401s arrive while the one refresh runs: without single-flight across tabs, each would refresh.
	idp.setTokenEndpointDelay(500)
	idp.expireAccessTokens()
	const outcomes = await Promise.all(tabs.map((tab) => fire(tab, 20)))
	for (const outcome of outcomes) expect(outcome).toEqual({ ok: 20, failed: 0, errors: [] })
	const stats = idp.stats()
	console.log(`OpenID provider: ${outcomes.reduce((sum, o) => sum + o.ok, 0)} of 100 requests ok, ${server.stats().api401} API 401s, ${stats.refreshCalls} refresh call(s)`)
	expect(server.stats().api401).toBeGreaterThan(0)
	expect(stats.refreshCalls).toBe(1)
	expect(stats.refreshSuccesses).toBe(1)
	expect(stats.reuseDetections).toBe(0)
	expect(Object.values(stats.grants)).toEqual([{ refreshes: 1, reuseDetections: 0, revocations: 0 }])
})

test.describe(() => {
	// The provider counts lifetimes in whole seconds, so a token dies up to 1 s before receipt +
	// expires_in, and a request may then take a while to reach the API from a loaded browser: the
	// refresh-ahead margin, a fifth of 12 s, leaves 1.4 s for that (8 s tokens left 0.6 s, which
	// Firefox under CI's load overran twice in 110 requests).
	test.use({ idpAccessTtlMs: 12_000 })

	test('OpenID provider: tokens are refreshed ahead of expiry, so the API never answers 401', async ({ context, server, idp }) => {
		test.setTimeout(90_000)
		const tabs = await openTabs(context, server, idp, 2)
		idp.resetStats()
		server.resetStats()
		const until = Date.now() + 26_000
		let ok = 0
		while (Date.now() < until) {
			const outcomes = await Promise.all(tabs.map((tab) => fire(tab, 5)))
			for (const outcome of outcomes) expect(outcome).toEqual({ ok: 5, failed: 0, errors: [] })
			ok += outcomes.reduce((sum, outcome) => sum + outcome.ok, 0)
			await tabs[0]!.waitForTimeout(400)
		}
		const stats = idp.stats()
		console.log(`OpenID provider, proactive: ${ok} requests ok over 26 s, ${server.stats().api401} API 401s, ${stats.refreshCalls} refresh calls`)
		expect(server.stats().api401).toBe(0)
		// 26 s of 12 s tokens refreshed 2.4 s early: at least two refreshes, one per lifetime.
		expect(stats.refreshSuccesses).toBeGreaterThanOrEqual(2)
		expect(stats.refreshCalls).toBe(stats.refreshSuccesses)
		expect(stats.reuseDetections).toBe(0)
	})
})

test('OpenID provider: a grant revoked at the provider logs every tab out with refresh-rejected', async ({ context, server, idp }) => {
	const tabs = await openTabs(context, server, idp, 3)
	const watches = await Promise.all(tabs.map(watchLogout))
	idp.resetStats()
	idp.revokeGrants()
	const outcome = await fireAcrossNavigation(tabs[0]!, 5)
	expect(outcome).toEqual({ ok: 0, failed: 5, errors: Array(5).fill('LoggedOutError') })
	for (const tab of tabs) await tab.waitForURL(`${server.url}/login${modeQuery(idp)}`)
	expect(await Promise.all(watches.map((watch) => watch.reason))).toEqual(['refresh-rejected', 'refresh-rejected', 'refresh-rejected'])
	expect(idp.stats().refreshCalls).toBe(1)
	expect(idp.stats().refreshSuccesses).toBe(0)
})

test('OpenID provider: no refresh token it issued is readable by page script', async ({ context, server, idp }) => {
	await context.addInitScript(recordMessages)
	const tabs = await openTabs(context, server, idp, 2)
	// Two refreshes rotate the refresh token twice; every version must stay in the worker.
	for (let cycle = 0; cycle < 2; cycle++) {
		idp.expireAccessTokens()
		expect((await fire(tabs[0]!, 3)).ok).toBe(3)
	}
	const issued = idp.issuedRefreshTokens()
	expect(issued).toHaveLength(3)
	expect(idp.stats().refreshSuccesses).toBe(2)
	for (const tab of tabs) {
		const readable = await readableByScript(tab)
		expect(readable).toContain('"swtb":1')
		for (const refreshToken of issued) expect(readable).not.toContain(refreshToken)
	}
})

test('OpenID provider: logout revokes the grant at the provider, so its refresh token is dead', async ({ context, server, idp }) => {
	const tabs = await openTabs(context, server, idp, 2)
	idp.expireAccessTokens()
	expect((await fire(tabs[0]!, 1)).ok).toBe(1)
	const current = idp.issuedRefreshTokens().at(-1)!
	const watches = await Promise.all(tabs.map(watchLogout))
	await tabs[1]!.getByRole('button', { name: 'Log out' }).click()
	for (const tab of tabs) await tab.waitForURL(`${server.url}/login${modeQuery(idp)}`)
	expect(await Promise.all(watches.map((watch) => watch.reason))).toEqual(['remote', 'user'])
	await expect.poll(() => idp.stats().revocations).toBe(1)
	expect(Object.values(idp.stats().grants)).toEqual([{ refreshes: 1, reuseDetections: 0, revocations: 1 }])
	expect(await refreshAnswer(idp, current)).toEqual({ status: 400, error: 'invalid_grant' })
})
