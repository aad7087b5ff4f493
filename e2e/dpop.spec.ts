import type { Page } from '@playwright/test'
import { generateKeyPair, prover } from '../src/core/dpop/prover.js'
import { serverClock } from '../src/core/dpop/server-clock.js'
import { completeProviderSignIn, jwkThumbprint, startOidcProvider } from '../testing/index.js'
import { demoReady, expect, expectOneRefreshForAllTabs, fire, openSignedInTabs, signIn, stopServiceWorkers, test } from './fixtures.js'

const DPOP = '?dpop=1'
const PERSISTED = '?dpop=1&persist=indexeddb'

/** The key the broker keeps in IndexedDB, as page script finds it: its public half as a JWK, and whether its private half can be taken out. */
function storedKey(page: Page) {
	return page.evaluate(
		() =>
			new Promise<{ jwk: JsonWebKey; extractable: boolean; exported: string[] } | null>((resolve, reject) => {
				const open = indexedDB.open('sw-token-broker-dpop')
				open.onerror = () => reject(open.error)
				open.onupgradeneeded = () => open.result.createObjectStore('key')
				open.onsuccess = () => {
					const read = open.result.transaction('key').objectStore('key').get('current')
					read.onsuccess = async () => {
						const pair = read.result as CryptoKeyPair | undefined
						if (pair === undefined) return resolve(null)
						// Every way page script could take the private key out: each must be refused.
						const exported: string[] = []
						for (const format of ['jwk', 'pkcs8'] as const) {
							await crypto.subtle.exportKey(format, pair.privateKey).then(
								() => exported.push(format),
								() => undefined,
							)
						}
						resolve({ jwk: await crypto.subtle.exportKey('jwk', pair.publicKey), extractable: pair.privateKey.extractable, exported })
					}
				}
			}),
	)
}

/** The refresh token as `persist: 'indexeddb'` keeps it: readable by any script of the origin. */
function storedRefreshToken(page: Page) {
	return page.evaluate(
		() =>
			new Promise<string>((resolve, reject) => {
				const open = indexedDB.open('sw-token-broker')
				open.onerror = () => reject(open.error)
				open.onsuccess = () => {
					const read = open.result.transaction('session').objectStore('session').get('current')
					read.onsuccess = () => resolve((read.result as { tokens: { refreshToken: string } }).tokens.refreshToken)
				}
			}),
	)
}

/** The thumbprint of the key that signed a DPoP proof, read from its header. */
function proofKey(proof: string | undefined): string {
	const header = JSON.parse(Buffer.from((proof ?? '').split('.')[0]!, 'base64url').toString()) as { jwk: JsonWebKey }
	return jwkThumbprint(header.jwk)
}

test.describe('DPoP (sender-constrained tokens)', () => {
	test('DPoP: 5 tabs × 20 requests after expiry, every request verified by the API, exactly 1 refresh', async ({ context, server }) => {
		const tabs = await openSignedInTabs(context, server, 5, DPOP)
		const before = server.dpopStats().verified
		await expectOneRefreshForAllTabs(server, tabs, 20)
		const dpop = server.dpopStats()
		expect(dpop.refused).toBe(0)
		expect(dpop.unboundUses).toBe(0)
		// 100 API answers and the refresh, each with a proof that passed every check.
		expect(dpop.verified - before).toBeGreaterThanOrEqual(101)
		const recent = server.lastApiHeaders().slice(-100)
		for (const headers of recent) expect(headers.authorization).toMatch(/^DPoP /)
	})

	test("DPoP: a refresh token read out of IndexedDB is refused from Node, without a proof and with another key's", async ({ context, server }) => {
		const page = await signIn(context, server, PERSISTED)
		const refreshToken = await storedRefreshToken(page)
		const body = () => new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'demo' })
		const headers = { 'content-type': 'application/x-www-form-urlencoded' }
		const bare = await fetch(`${server.url}/oauth/token`, { method: 'POST', headers, body: body() })
		expect(bare.status).toBe(400)
		expect(await bare.json()).toMatchObject({ error: 'invalid_grant' })
		const thief = await prover(await generateKeyPair(), serverClock())
		const stolen = await thief.send(`${server.url}/oauth/token`, { method: 'POST', headers, body: body() })
		expect(stolen.status).toBe(400)
		expect(await stolen.json()).toMatchObject({ error: 'invalid_grant' })
		// Neither attempt used the token up: the device holding the key still refreshes with it.
		expect(server.stats().reuseDetections).toBe(0)
		await expectOneRefreshForAllTabs(server, [page], 5)
	})

	test('DPoP: the stored key cannot be exported from page script', async ({ context, server }) => {
		const page = await signIn(context, server, DPOP)
		const key = await storedKey(page)
		expect(key).not.toBeNull()
		expect(key!.extractable).toBe(false)
		expect(key!.exported).toEqual([])
		expect(key!.jwk.d).toBeUndefined()
		// The page's requests are signed by that very key.
		expect(await fire(page, 1)).toEqual({ ok: 1, failed: 0, errors: [] })
		expect(proofKey(server.lastApiHeaders().at(-1)?.dpop)).toBe(jwkThumbprint(key!.jwk))
	})

	test('DPoP: nonces at the token endpoint and at the API cost one extra trip each, never a refresh', async ({ context, server }) => {
		server.setDPoPNonce('nonce-1')
		const page = await signIn(context, server, DPOP)
		// The sign-in: one challenge, answered once.
		expect(server.dpopStats().nonceChallenges).toBe(1)
		expect(server.stats().logins).toBe(1)
		server.resetStats()
		// The tab has not met the API's nonce: its first request pays one trip, the next ones none.
		expect(await fire(page, 1)).toEqual({ ok: 1, failed: 0, errors: [] })
		expect(server.dpopStats().nonceChallenges).toBe(2)
		expect(await fire(page, 5)).toEqual({ ok: 5, failed: 0, errors: [] })
		expect(server.dpopStats().nonceChallenges).toBe(2)
		expect(server.stats().refreshCalls).toBe(0)
		// A new nonce while the token expires: the refresh pays one trip, the retried request one.
		server.setDPoPNonce('nonce-2')
		server.expireAccessTokens()
		expect(await fire(page, 1)).toEqual({ ok: 1, failed: 0, errors: [] })
		expect(server.stats()).toMatchObject({ refreshCalls: 2, refreshSuccesses: 1, reuseDetections: 0 })
		expect(server.dpopStats()).toMatchObject({ nonceChallenges: 4, refused: 0 })
	})

	for (const minutes of [5, -5]) {
		test(`DPoP: a client clock 5 min ${minutes > 0 ? 'behind' : 'ahead'} still gets its proofs accepted (60 s window)`, async ({ context, server }) => {
			server.setClockSkew(minutes * 60_000)
			const tabs = await openSignedInTabs(context, server, 2, DPOP)
			// Only the very first proof, before any Date header was seen, is refused, and sent again corrected.
			expect(server.dpopStats().refused).toBe(1)
			expect(server.dpopStats().reasons[0]).toMatch(/iat/)
			await expectOneRefreshForAllTabs(server, tabs, 10)
			expect(server.dpopStats().refused).toBe(1)
		})
	}

	test('DPoP with persist indexeddb: every tab closed and the worker stopped, a new tab works with the same key after one refresh', async ({ context, server }) => {
		const page = await signIn(context, server, PERSISTED)
		const key = await storedKey(page)
		await stopServiceWorkers(page)
		await page.close()
		server.resetStats()
		server.expireAccessTokens()
		const next = await context.newPage()
		await next.goto(`${server.url}/${PERSISTED}`)
		await expect(next.locator('#state')).toHaveText('signed in')
		expect(await fire(next, 3)).toEqual({ ok: 3, failed: 0, errors: [] })
		expect(server.stats()).toMatchObject({ refreshSuccesses: 1, reuseDetections: 0 })
		expect(proofKey(server.lastApiHeaders().at(-1)?.dpop)).toBe(jwkThumbprint(key!.jwk))
	})

	test('DPoP sign-in: openIdProvider at a real OpenID provider binds the session to a new key; after expiry 3 tabs × 10 requests make exactly 1 refresh', async ({ context, server }) => {
		// demo/idp.ts: in ?dpop=1 mode the redirect URI keeps dpop=1, so the callback page's worker is the DPoP one.
		const back = (issuer: string) => [`${server.url}/login?idp=${encodeURIComponent(issuer)}&dpop=1`]
		const idp = await startOidcProvider({ dpop: true, redirectUris: back, postLogoutRedirectUris: back })
		try {
			server.useIssuer(idp)
			const mode = `?idp=${encodeURIComponent(idp.issuer)}&dpop=1`
			const page = await context.newPage()
			await page.goto(`${server.url}/login${mode}`)
			await demoReady(page)
			await page.getByRole('button', { name: 'Sign in at the OpenID provider' }).click()
			await completeProviderSignIn(page, idp)
			await page.waitForURL(`${server.url}/${mode}`)
			await expect(page.locator('#state')).toHaveText('signed in')
			expect(idp.stats().signIns).toBe(1)
			const key = await storedKey(page)
			expect(key?.extractable).toBe(false)
			const jkt = jwkThumbprint(key!.jwk)
			// The code exchange was proved with that key: the provider bound the access token to it (introspection: token_type DPoP, cnf.jkt).
			const signedInToken = await page.evaluate(() => (window as unknown as { swtbDemo: { client: { getAccessToken(): Promise<string | null> } } }).swtbDemo.client.getAccessToken())
			expect(await idp.verifyAccessToken(signedInToken!)).toEqual({ sub: 'demo', jkt })
			const tabs = [
				page,
				...(await Promise.all(
					Array.from({ length: 2 }, async () => {
						const tab = await context.newPage()
						await tab.goto(`${server.url}/${mode}`)
						await expect(tab.locator('#state')).toHaveText('signed in', { timeout: 30_000 })
						return tab
					}),
				)),
			]
			idp.resetStats()
			idp.setTokenEndpointDelay(500)
			idp.expireAccessTokens()
			const before = server.dpopStats()
			const outcomes = await Promise.all(tabs.map((tab) => fire(tab, 10)))
			for (const outcome of outcomes) expect(outcome).toEqual({ ok: 10, failed: 0, errors: [] })
			// The refresh presented the key-bound refresh token with a proof of the same key: accepted once, for all tabs.
			expect(idp.stats()).toMatchObject({ refreshCalls: 1, refreshSuccesses: 1, reuseDetections: 0 })
			const dpop = server.dpopStats()
			expect(dpop.refused).toBe(before.refused)
			expect(dpop.unboundUses).toBe(0)
			expect(dpop.verified - before.verified).toBeGreaterThanOrEqual(30)
			for (const headers of server.lastApiHeaders().slice(-30)) {
				expect(headers.authorization).toMatch(/^DPoP /)
				expect(proofKey(headers.dpop)).toBe(jkt)
			}
			const refreshedToken = server.lastApiHeaders().at(-1)?.authorization?.slice('DPoP '.length)
			expect(refreshedToken).not.toBe(signedInToken)
			expect(await idp.verifyAccessToken(refreshedToken!)).toEqual({ sub: 'demo', jkt })
		} finally {
			server.useIssuer(undefined)
			await idp.close()
		}
	})

	test('DPoP: logout deletes the key', async ({ context, server }) => {
		const page = await signIn(context, server, DPOP)
		expect(await storedKey(page)).not.toBeNull()
		await page.getByRole('button', { name: 'Log out' }).click()
		await page.waitForURL(/\/login/)
		await expect.poll(() => storedKey(page)).toBeNull()
	})
})
