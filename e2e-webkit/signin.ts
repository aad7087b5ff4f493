/** The sign-in cases of the WebKit suite: signIn() at the real oidc-provider, as e2e/signin.spec.ts runs them in Chromium and Firefox. */
import { By } from 'selenium-webdriver'
import { type DevAuthServer, type OidcProvider, startOidcProvider } from '../testing/index.js'
import { type Tab, checkEqual, demoReady, test, waitFor } from './harness.js'

async function withProvider(server: DevAuthServer, body: (idp: OidcProvider, mode: string) => Promise<void>): Promise<void> {
	const back = (issuer: string) => [`${server.url}/login?idp=${encodeURIComponent(issuer)}`]
	const idp = await startOidcProvider({ redirectUris: back, postLogoutRedirectUris: back })
	server.useIssuer(idp)
	try {
		await body(idp, `?idp=${encodeURIComponent(idp.issuer)}`)
	} finally {
		await idp.close()
	}
}

const atProvider = (idp: OidcProvider, tab: Tab, path: string) => waitFor(`${path} at the provider`, async () => ((await tab.url()).startsWith(`${idp.issuer}${path}`) ? true : undefined))

/** The provider's login page, as a user completes it (or cancels). */
async function completeAtProvider(idp: OidcProvider, tab: Tab, cancel = false): Promise<void> {
	await atProvider(idp, tab, '/interaction/')
	if (!cancel) {
		await tab.run(`document.querySelector('[name=username]').value = 'demo'; document.querySelector('[name=password]').value = 'demo'`)
	}
	await tab.click(cancel ? 'Cancel' : 'Sign in at the provider')
	await waitFor('back from the provider', async () => ((await tab.url()).startsWith(idp.issuer) ? undefined : true))
}

const complete = (tab: Tab, url: string) =>
	tab.run<string[]>(`return window.swtbDemo.client.completeSignIn(arguments[0]).then(() => ['resolved'], (error) => [error.name, String(error.oauthError)])`, url)

test("sign-in: signIn() through the provider's login page signs in 5 tabs; 5 × 20 requests after expiry make 1 refresh; a forged state is invalid_state", async ({ browser, server, note }) => {
	await withProvider(server, async (idp, mode) => {
		const tabs: Tab[] = []
		for (let i = 0; i < 5; i++) tabs.push(await browser.newTab(`${server.url}/login${mode}`))
		for (const tab of tabs) await demoReady(tab)
		const started = Date.now()
		await tabs[0]!.click('Sign in at the OpenID provider')
		await completeAtProvider(idp, tabs[0]!)
		for (const tab of tabs) await tab.waitForState('signed in')
		note(`signIn() → provider page → 5 tabs signed in: ${Date.now() - started} ms`)
		checkEqual(await tabs[0]!.run(`return window.swtbDemo.client.state.user?.sub`), 'demo', 'the user')
		checkEqual((await tabs[0]!.url()).includes('code='), false, 'the callback URL was cleaned')

		idp.resetStats()
		idp.setTokenEndpointDelay(1_500)
		idp.expireAccessTokens()
		for (const [index, tab] of tabs.entries()) await tab.startFiring(20, `signin-${index}`)
		for (const [index, tab] of tabs.entries()) checkEqual(await tab.collect(`signin-${index}`), { ok: 20, failed: 0, errors: [] }, `tab ${index}`)
		checkEqual(idp.stats().refreshCalls, 1, 'refresh calls')
		checkEqual(idp.stats().reuseDetections, 0, 'reuse detections')
		idp.setTokenEndpointDelay(0)

		const token = await tabs[0]!.accessToken()
		checkEqual(await complete(tabs[0]!, `${server.url}/login${mode}&code=stolen&state=forged&iss=${encodeURIComponent(idp.issuer)}`), ['LoginFailedError', 'invalid_state'], 'a forged state')
		checkEqual(idp.stats().codeExchanges, 0, 'code exchanges after the forged state')
		checkEqual(await tabs[0]!.accessToken(), token, 'the session after the forged state')
	})
})

test('sign-in: error=access_denied is refused; two tabs signing in at once both finish; logout({ endSession }) reaches the end-session endpoint', async ({ browser, server }) => {
	await withProvider(server, async (idp, mode) => {
		const a = await browser.newTab(`${server.url}/login${mode}`)
		await demoReady(a)
		await a.click('Sign in at the OpenID provider')
		await completeAtProvider(idp, a, true)
		await waitFor('the error shown', async () => ((await a.run<string>(`return document.getElementById('error').textContent`)).includes('access_denied') ? true : undefined))
		checkEqual(idp.stats().codeExchanges, 0, 'code exchanges after access_denied')

		const b = await browser.newTab(`${server.url}/login${mode}`)
		await demoReady(b)
		await a.goto(`${server.url}/login${mode}`)
		await demoReady(a)
		await a.click('Sign in at the OpenID provider')
		await atProvider(idp, a, '/interaction/')
		await b.click('Sign in at the OpenID provider')
		await completeAtProvider(idp, b)
		await b.waitForState('signed in')
		await completeAtProvider(idp, a)
		await a.waitForState('signed in')
		checkEqual(idp.stats().signIns, 2, 'sign-ins')

		await a.click('Sign out at the provider')
		await atProvider(idp, a, '/session/end')
		const endSession = new URL(await a.url())
		checkEqual(endSession.searchParams.get('id_token_hint')?.split('.').length, 3, 'id_token_hint')
		await a.driver.findElement(By.xpath(`//button[normalize-space()='Yes, sign me out']`)).click()
		await a.waitForPath('/login')
		await b.waitForPath('/login')
		checkEqual(idp.stats().endSessions, 1, 'end sessions')
	})
})
