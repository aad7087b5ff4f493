import type { BrowserContext, Page } from '@playwright/test'
import { type OidcProvider, completeProviderSignIn, confirmProviderLogout, startOidcProvider } from '../testing/index.js'
import { demoReady, expect, fire, stopServiceWorkers, test as base } from './fixtures.js'
import { readableByScript, recordMessages } from './page-secrets.js'

/**
 * client.signIn() → the provider's own login page → completeSignIn() on the redirect URI, against
 * a real OpenID provider (oidc-provider): the broker makes the authorization request (PKCE,
 * state, nonce), keeps the pending sign-in in IndexedDB, checks the answer and redeems the code.
 */
const test = base.extend<{ idp: OidcProvider }>({
	idp: async ({ server }, use) => {
		const back = (issuer: string) => [`${server.url}/login?idp=${encodeURIComponent(issuer)}`]
		const idp = await startOidcProvider({ redirectUris: back, postLogoutRedirectUris: back })
		server.useIssuer(idp)
		await use(idp)
		await idp.close()
	},
})

const mode = (idp: OidcProvider) => `?idp=${encodeURIComponent(idp.issuer)}`

interface Demo {
	client: {
		completeSignIn(url: string): Promise<{ returnTo?: string }>
		getAccessToken(): Promise<string | null>
		readonly state: { status: string; user?: Record<string, unknown> }
	}
}

async function loginPage(context: BrowserContext, server: { url: string }, idp: OidcProvider): Promise<Page> {
	const page = await context.newPage()
	await page.goto(`${server.url}/login${mode(idp)}`)
	await demoReady(page)
	return page
}

/** Every URL of the app the tab loaded with a provider's answer in its query: the callbacks, before the page cleaned them. */
function recordCallbacks(page: Page, server: { url: string }): string[] {
	const callbacks: string[] = []
	page.on('request', (request) => {
		const url = new URL(request.url())
		if (request.isNavigationRequest() && url.origin === server.url && url.searchParams.has('code')) callbacks.push(url.href)
	})
	return callbacks
}

/** signIn() on the demo's login page, through the provider's pages, back to the app. */
async function signInThroughProvider(page: Page, server: { url: string }, idp: OidcProvider): Promise<void> {
	await page.getByRole('button', { name: 'Sign in at the OpenID provider' }).click()
	await completeProviderSignIn(page, idp)
	await page.waitForURL(`${server.url}/${mode(idp)}`)
	await expect(page.locator('#state')).toHaveText('signed in')
}

async function openApp(context: BrowserContext, server: { url: string }, idp: OidcProvider): Promise<Page> {
	const page = await context.newPage()
	await page.goto(`${server.url}/${mode(idp)}`)
	await expect(page.locator('#state')).toHaveText('signed in', { timeout: 30_000 })
	return page
}

/** What completeSignIn(url) rejected with, run in the tab. */
function completeIn(page: Page, url: string): Promise<string[]> {
	return page.evaluate(
		(callback) =>
			(window as unknown as { swtbDemo: Demo }).swtbDemo.client.completeSignIn(callback).then(
				() => ['resolved'],
				(error: { name: string; oauthError?: string }) => [error.name, String(error.oauthError)],
			),
		url,
	)
}

const tokenIn = (page: Page) => page.evaluate(() => (window as unknown as { swtbDemo: Demo }).swtbDemo.client.getAccessToken())

test("sign-in: signIn() through the provider's login page signs in 5 tabs, with the ID token's user", async ({ context, server, idp }) => {
	const waiting = await Promise.all(Array.from({ length: 4 }, () => loginPage(context, server, idp)))
	// When each waiting tab received the token (epoch ms), kept across the navigation the token starts.
	for (const tab of waiting) {
		await tab.evaluate(() =>
			(window as unknown as { swtbDemo: { client: { subscribe(listener: (event: { type: string }) => void): void } } }).swtbDemo.client.subscribe((event) => {
				if (event.type === 'token') sessionStorage.setItem('token-at', String(Date.now()))
			}),
		)
	}
	const page = await loginPage(context, server, idp)
	let back = 0
	page.on('request', (request) => {
		if (request.isNavigationRequest() && request.url().startsWith(server.url) && request.url().includes('code=')) back = Date.now()
	})
	const started = Date.now()
	await page.getByRole('button', { name: 'Sign in at the OpenID provider' }).click()
	await completeProviderSignIn(page, idp)
	const tabs = [page, ...waiting]
	await Promise.all(tabs.map((tab) => expect(tab.locator('#state')).toHaveText('signed in', { timeout: 30_000 })))
	const received = Math.max(...(await Promise.all(waiting.map((tab) => tab.evaluate(() => Number(sessionStorage.getItem('token-at')))))))
	console.log(`sign-in: signIn() → every one of 5 tabs holding the token: ${received - started} ms (the provider's pages included); from the redirect back: ${received - back} ms`)
	await page.waitForURL(`${server.url}/${mode(idp)}`)
	expect(page.url()).not.toContain('code=')
	for (const tab of tabs) await expect(tab.locator('#user')).toHaveText('demo (oidc-provider)')
	const user = await page.evaluate(() => (window as unknown as { swtbDemo: Demo }).swtbDemo.client.state.user)
	expect(user).toMatchObject({ sub: 'demo', email: 'demo@example.test', iss: idp.issuer, aud: 'app' })
	expect(idp.stats().signIns).toBe(1)
	expect(await fire(page, 5)).toEqual({ ok: 5, failed: 0, errors: [] })
})

test('sign-in: the code verifier and the refresh token are never readable by page script', async ({ context, server, idp }) => {
	await context.addInitScript(recordMessages)
	const page = await loginPage(context, server, idp)
	await signInThroughProvider(page, server, idp)
	const other = await openApp(context, server, idp)
	idp.expireAccessTokens()
	expect((await fire(page, 3)).ok).toBe(3)
	const secrets = [...idp.presentedCodeVerifiers(), ...idp.issuedRefreshTokens()]
	expect(secrets).toHaveLength(3)
	for (const tab of [page, other]) {
		const readable = await readableByScript(tab)
		expect(readable).toContain('"swtb":1')
		for (const secret of secrets) expect(readable).not.toContain(secret)
	}
})

test('sign-in: after expiry, 5 tabs × 20 requests make exactly 1 refresh', async ({ context, server, idp }) => {
	const page = await loginPage(context, server, idp)
	await signInThroughProvider(page, server, idp)
	const tabs = [page, ...(await Promise.all(Array.from({ length: 4 }, () => openApp(context, server, idp))))]
	idp.resetStats()
	idp.setTokenEndpointDelay(500)
	idp.expireAccessTokens()
	const outcomes = await Promise.all(tabs.map((tab) => fire(tab, 20)))
	for (const outcome of outcomes) expect(outcome).toEqual({ ok: 20, failed: 0, errors: [] })
	expect(idp.stats().refreshCalls).toBe(1)
	expect(idp.stats().reuseDetections).toBe(0)
})

test('sign-in: the callback opened twice rejects with invalid_state, sends nothing to the token endpoint, and keeps the session', async ({ context, server, idp }) => {
	const page = await loginPage(context, server, idp)
	const callbacks = recordCallbacks(page, server)
	await signInThroughProvider(page, server, idp)
	expect(callbacks).toHaveLength(1)
	const token = await tokenIn(page)
	const exchanges = idp.stats().codeExchanges
	const again = await context.newPage()
	await again.goto(callbacks[0]!)
	await expect(again.locator('#error')).toContainText('already used')
	expect(await completeIn(page, callbacks[0]!)).toEqual(['LoginFailedError', 'invalid_state'])
	expect(idp.stats().codeExchanges).toBe(exchanges)
	expect(await tokenIn(page)).toBe(token)
	await expect(page.locator('#state')).toHaveText('signed in')
})

test('sign-in: a forged state rejects with invalid_state and sends nothing to the token endpoint', async ({ context, server, idp }) => {
	const page = await loginPage(context, server, idp)
	await signInThroughProvider(page, server, idp)
	const token = await tokenIn(page)
	const forged = `${server.url}/login${mode(idp)}&code=stolen-code&state=forged-state&iss=${encodeURIComponent(idp.issuer)}`
	expect(await completeIn(page, forged)).toEqual(['LoginFailedError', 'invalid_state'])
	expect(idp.stats().codeExchanges).toBe(1)
	expect(await tokenIn(page)).toBe(token)
})

test('sign-in: error=access_denied from the provider rejects with access_denied and sends nothing to the token endpoint', async ({ context, server, idp }) => {
	const page = await loginPage(context, server, idp)
	await page.getByRole('button', { name: 'Sign in at the OpenID provider' }).click()
	await completeProviderSignIn(page, idp, { cancel: true })
	await expect(page.locator('#error')).toContainText('access_denied')
	expect(page.url()).not.toContain('error=')
	expect(idp.stats().codeExchanges).toBe(0)
	expect(await tokenIn(page)).toBeNull()
})

test('sign-in: a worker stopped between the redirect and the callback still finishes the sign-in', async ({ context, server, idp }) => {
	const page = await loginPage(context, server, idp)
	await page.getByRole('button', { name: 'Sign in at the OpenID provider' }).click()
	await page.waitForURL((url) => url.href.startsWith(`${idp.issuer}/interaction/`))
	await stopServiceWorkers(page)
	await completeProviderSignIn(page, idp)
	await page.waitForURL(`${server.url}/${mode(idp)}`)
	await expect(page.locator('#state')).toHaveText('signed in')
	expect(idp.stats().signIns).toBe(1)
})

test('sign-in: two tabs signing in at once both finish, each with its own pending sign-in', async ({ context, server, idp }) => {
	const [a, b] = await Promise.all([loginPage(context, server, idp), loginPage(context, server, idp)])
	for (const tab of [a, b]) {
		await tab.getByRole('button', { name: 'Sign in at the OpenID provider' }).click()
		await tab.waitForURL((url) => url.href.startsWith(`${idp.issuer}/interaction/`))
	}
	await completeProviderSignIn(b, idp)
	await b.waitForURL(`${server.url}/${mode(idp)}`)
	await completeProviderSignIn(a, idp)
	await a.waitForURL(`${server.url}/${mode(idp)}`)
	for (const tab of [a, b]) await expect(tab.locator('#state')).toHaveText('signed in')
	expect(idp.stats().signIns).toBe(2)
	// The later sign-in's session is every tab's.
	await expect.poll(async () => (await tokenIn(b)) === (await tokenIn(a))).toBe(true)
})

test("sign-in: logout({ endSession: true }) logs every tab out and reaches the provider's end-session endpoint", async ({ context, server, idp }) => {
	const page = await loginPage(context, server, idp)
	await signInThroughProvider(page, server, idp)
	const other = await openApp(context, server, idp)
	const endSession: string[] = []
	page.on('request', (request) => {
		if (request.url().startsWith(idp.endSessionEndpoint)) endSession.push(request.url())
	})
	await page.getByRole('button', { name: 'Sign out at the provider' }).click()
	await other.waitForURL(`${server.url}/login${mode(idp)}`)
	await confirmProviderLogout(page, idp)
	await page.waitForURL(`${server.url}/login${mode(idp)}`)
	expect(idp.stats().endSessions).toBe(1)
	const hint = new URL(endSession[0]!).searchParams
	expect(hint.get('client_id')).toBe('app')
	expect(hint.get('id_token_hint')?.split('.')).toHaveLength(3)
	expect(hint.get('post_logout_redirect_uri')).toBe(`${server.url}/login${mode(idp)}`)
	await expect.poll(() => idp.stats().revocations).toBe(1)
	expect(await tokenIn(other)).toBeNull()
})
