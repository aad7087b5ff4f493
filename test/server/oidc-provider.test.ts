import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startOidcProvider } from '../../testing/oidc-provider.js'
import type { OidcProvider } from '../../testing/oidc-provider.js'

const APP_ORIGIN = 'http://127.0.0.1:9'

interface TokenAnswer {
	status: number
	accessControlAllowOrigin: string | null
	body: { access_token?: string; refresh_token?: string; expires_in?: number; error?: string }
}

let idp: OidcProvider

beforeAll(async () => {
	idp = await startOidcProvider({ accessTtlMs: 4_500, redirectUris: [`${APP_ORIGIN}/callback`] })
})
afterAll(() => idp.close())
beforeEach(() => idp.resetStats())

/** As the broker in a worker of the app's origin sends it. */
async function post(url: string, fields: Record<string, string>, origin = APP_ORIGIN): Promise<TokenAnswer> {
	const response = await fetch(url, {
		method: 'POST',
		headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
		body: new URLSearchParams(fields),
	})
	return { status: response.status, accessControlAllowOrigin: response.headers.get('access-control-allow-origin'), body: (await response.json().catch(() => ({}))) as TokenAnswer['body'] }
}

const refresh = (refreshToken: string) => post(idp.tokenEndpoint, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: idp.clientId })

async function signedIn(): Promise<{ accessToken: string; refreshToken: string }> {
	const { exchange } = await idp.signIn()
	const answer = await post(exchange.url, exchange.body)
	expect(answer.status).toBe(200)
	return { accessToken: answer.body.access_token!, refreshToken: answer.body.refresh_token! }
}

describe('startOidcProvider', () => {
	it('signs in headless with code + PKCE: offline_access gives a refresh token, expires_in is accessTtlMs rounded up to seconds, CORS allows the app', async () => {
		const { exchange } = await idp.signIn()
		expect(exchange.body).toMatchObject({ grant_type: 'authorization_code', redirect_uri: `${APP_ORIGIN}/callback`, client_id: 'app' })
		const answer = await post(exchange.url, exchange.body)
		expect(answer).toMatchObject({ status: 200, accessControlAllowOrigin: APP_ORIGIN, body: { expires_in: 5 } })
		expect(answer.body.refresh_token).toEqual(expect.any(String))
		expect(idp.stats().signIns).toBe(1)
	})

	it('refuses a code exchange without the PKCE verifier', async () => {
		const { exchange } = await idp.signIn()
		const { code_verifier: _verifier, ...withoutVerifier } = exchange.body
		expect(await post(exchange.url, withoutVerifier)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
	})

	it('gives no CORS permission to another origin', async () => {
		const { refreshToken } = await signedIn()
		const answer = await post(idp.tokenEndpoint, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: idp.clientId }, 'http://127.0.0.1:10')
		expect(answer.accessControlAllowOrigin).toBeNull()
	})

	it('rotates the refresh token; reusing the old one revokes the whole grant and is counted', async () => {
		const first = await signedIn()
		const rotated = await refresh(first.refreshToken)
		expect(rotated.status).toBe(200)
		expect(rotated.body.refresh_token).not.toBe(first.refreshToken)

		expect(await refresh(first.refreshToken)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
		expect(await refresh(rotated.body.refresh_token!)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
		expect(await idp.verifyAccessToken(rotated.body.access_token!)).toBeUndefined()
		expect(idp.stats()).toMatchObject({ refreshCalls: 3, refreshSuccesses: 1, reuseDetections: 1, revocations: 0 })
		expect(Object.values(idp.stats().grants)).toEqual([{ refreshes: 1, reuseDetections: 1, revocations: 0 }])
	})

	it('verifies access tokens by introspection: a live one, not a refresh token, not after expireAccessTokens()', async () => {
		const { accessToken, refreshToken } = await signedIn()
		expect(await idp.verifyAccessToken(accessToken)).toEqual({ sub: 'demo' })
		expect(await idp.verifyAccessToken(refreshToken)).toBeUndefined()
		idp.expireAccessTokens()
		expect(await idp.verifyAccessToken(accessToken)).toBeUndefined()
		expect((await refresh(refreshToken)).status).toBe(200)
	})

	it('counts a revocation at the revocation endpoint; the refresh token is dead after it', async () => {
		const { refreshToken } = await signedIn()
		const revoked = await fetch(idp.revocationEndpoint, {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded', origin: APP_ORIGIN },
			body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token', client_id: idp.clientId }),
		})
		expect(revoked.status).toBe(200)
		expect(await refresh(refreshToken)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
		expect(idp.stats()).toMatchObject({ revocations: 1, reuseDetections: 0 })
	})

	it('revokeGrants() ends every grant', async () => {
		const sessions = [await signedIn(), await signedIn()]
		idp.revokeGrants()
		for (const { refreshToken } of sessions) expect((await refresh(refreshToken)).body.error).toBe('invalid_grant')
		expect(idp.stats().revocations).toBeGreaterThanOrEqual(2)
	})

	it('lists every refresh token it issued', async () => {
		const { refreshToken } = await signedIn()
		const rotated = await refresh(refreshToken)
		expect(idp.issuedRefreshTokens().slice(-2)).toEqual([refreshToken, rotated.body.refresh_token])
	})
})
