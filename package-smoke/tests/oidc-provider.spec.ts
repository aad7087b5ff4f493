import { fileURLToPath } from 'node:url'
import { expect, test } from '@playwright/test'
import { completeProviderSignIn, startDevAuthServer, startOidcProvider } from 'sw-token-broker/testing'

const publicDir = fileURLToPath(new URL('../public', import.meta.url))

test('OpenID provider: headless sign-in, the broker redeems the code, two tabs after expiry: one refresh at the provider', async ({ context }) => {
	const server = await startDevAuthServer({ staticDir: publicDir, accessTtlMs: 60_000 })
	const idp = await startOidcProvider({ accessTtlMs: 60_000, redirectUris: [`${server.url}/callback`] })
	try {
		server.useIssuer(idp)
		const query = `?tokenEndpoint=${encodeURIComponent(idp.tokenEndpoint)}&clientId=${idp.clientId}`
		const first = await context.newPage()
		await first.goto(`${server.url}/${query}`)
		await first.evaluate(async () => {
			await navigator.serviceWorker.ready
		})
		const { exchange } = await idp.signIn()
		await first.evaluate((request) => window.smoke.exchange(request), exchange)
		const second = await context.newPage()
		await second.goto(`${server.url}/${query}`)
		expect(await second.evaluate(() => window.smoke.token())).toEqual(expect.any(String))

		idp.expireAccessTokens()
		const outcomes = await Promise.all([first, second].map((tab) => tab.evaluate((n) => window.smoke.fire(n), 10)))
		console.log(`OpenID provider: ${outcomes.reduce((sum, o) => sum + o.ok, 0)} of 20 requests ok, ${idp.stats().refreshCalls} refresh call(s)`)
		for (const outcome of outcomes) expect(outcome).toEqual({ ok: 10, failed: 0, errors: [] })
		expect(idp.stats()).toMatchObject({ signIns: 1, refreshCalls: 1, refreshSuccesses: 1, reuseDetections: 0 })
	} finally {
		await idp.close()
		await server.close()
	}
})

test("OpenID provider: sign-in with client.signIn() through the provider's login page (openIdProvider from the tarball), then one refresh for two tabs", async ({ context }) => {
	const server = await startDevAuthServer({ staticDir: publicDir, accessTtlMs: 60_000 })
	const idp = await startOidcProvider({ accessTtlMs: 60_000, redirectUris: (issuer) => [`${server.url}/?issuer=${encodeURIComponent(issuer)}`] })
	try {
		server.useIssuer(idp)
		const app = `${server.url}/?issuer=${encodeURIComponent(idp.issuer)}`
		const first = await context.newPage()
		await first.goto(app)
		await first.evaluate(async () => {
			await navigator.serviceWorker.ready
		})
		await first.evaluate(() => window.smoke.signInAtProvider())
		await completeProviderSignIn(first, idp)
		expect(first.url()).toContain('code=')
		const user = await first.evaluate(() => window.smoke.completeSignIn())
		expect(user).toMatchObject({ sub: 'demo', iss: idp.issuer })
		expect(first.url()).toBe(app)
		const second = await context.newPage()
		await second.goto(app)
		expect(await second.evaluate(() => window.smoke.token())).toEqual(expect.any(String))

		idp.expireAccessTokens()
		const outcomes = await Promise.all([first, second].map((tab) => tab.evaluate((n) => window.smoke.fire(n), 10)))
		for (const outcome of outcomes) expect(outcome).toEqual({ ok: 10, failed: 0, errors: [] })
		expect(idp.stats()).toMatchObject({ signIns: 1, refreshCalls: 1, refreshSuccesses: 1, reuseDetections: 0 })
	} finally {
		await idp.close()
		await server.close()
	}
})
