import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BrokerCore } from '../../../src/core/broker-core.js'
import { LoginFailedError } from '../../../src/core/errors/login-failed-error.js'
import { oauth2Refresh } from '../../../src/core/presets.js'
import { openIdProvider } from '../../../src/core/oidc/open-id-provider.js'
import { PENDING_SIGN_IN_TTL_MS, memoryPendingSignIns } from '../../../src/core/oidc/pending-sign-in.js'
import { parseRequest } from '../../../src/core/parse-message.js'
import { type BrokerBroadcast, type RefreshFunctionLike, envelope } from './types.js'
import { type FakeProvider, startFakeProvider } from './fake-provider.js'

const ORIGIN = 'https://app.test'

let idp: FakeProvider
beforeEach(async () => {
	idp = await startFakeProvider()
})
afterEach(() => idp.close())

function broker(options: { now?: () => number; refresh?: RefreshFunctionLike } = {}) {
	const broadcasts: BrokerBroadcast[] = []
	const refresh = options.refresh ?? openIdProvider({ issuer: idp.issuer, clientId: 'app', redirectUri: '/callback', postLogoutRedirectUri: '/bye', params: { audience: 'https://api.test' } })
	const core = new BrokerCore({
		refresh,
		exchange: async () => {
			throw new Error('no exchange in these tests')
		},
		exchangeUrls: () => false,
		origin: ORIGIN,
		broadcast: (message) => broadcasts.push(message),
		pendingSignIns: memoryPendingSignIns(),
		...(options.now === undefined ? {} : { now: options.now }),
	})
	const signIn = async (options = {}) => (await core.handle({ type: 'sign-in', options })).location ?? ''
	const complete = (url: string) => core.handle({ type: 'complete-sign-in', url })
	return { core, broadcasts, signIn, complete }
}

/** The rejection, with its oauthError; fails the test when the promise resolves. */
async function refusal(promise: Promise<unknown>): Promise<LoginFailedError> {
	const error = await promise.then(
		() => undefined,
		(error: unknown) => error,
	)
	expect(error).toBeInstanceOf(LoginFailedError)
	return error as LoginFailedError
}

const codeExchanges = () => idp.tokenRequests.filter((form) => form.grant_type === 'authorization_code').length

describe('sign-in with openIdProvider', () => {
	it("builds the authorization URL with S256 PKCE, state, nonce and the preset's params, and keeps the verifier out of it", async () => {
		const { signIn } = broker()
		const url = new URL(await signIn({ prompt: 'login', loginHint: 'ada@example.test', params: { state: 'mine', ui_locales: 'de' } }))
		expect(url.origin + url.pathname).toBe(`${idp.issuer}/auth`)
		const params = url.searchParams
		expect(params.get('code_challenge_method')).toBe('S256')
		expect(params.get('code_challenge')).toMatch(/^[\w-]{43}$/)
		expect(params.get('state')).toMatch(/^[\w-]{20,}$/)
		expect(params.get('state')).not.toBe('mine')
		expect(params.get('nonce')).toMatch(/^[\w-]{20,}$/)
		expect(params.get('redirect_uri')).toBe(`${ORIGIN}/callback`)
		expect(params.get('scope')).toBe('openid offline_access')
		expect(params.get('audience')).toBe('https://api.test')
		expect(params.get('prompt')).toBe('login')
		expect(params.get('login_hint')).toBe('ada@example.test')
		expect(params.get('ui_locales')).toBe('de')
		expect(params.has('code_verifier')).toBe(false)
	})

	it("completes: redeems the code with its verifier, adopts the tokens with the ID token's claims, broadcasts them, answers returnTo", async () => {
		const { signIn, complete, broadcasts, core } = broker()
		const snapshot = await complete(idp.authorize(await signIn({ returnTo: '/orders?x=1' })))
		expect(snapshot.accessToken).toMatch(/^at-/)
		expect(snapshot.user).toMatchObject({ sub: 'user-1', name: 'Ada', iss: idp.issuer, aud: 'app' })
		expect(snapshot.location).toBe('/orders?x=1')
		expect(JSON.stringify(snapshot)).not.toMatch(/rt-|verifier/)
		expect(broadcasts.at(-1)).toMatchObject({ type: 'token', snapshot: { accessToken: snapshot.accessToken, user: { sub: 'user-1' } } })
		expect(core.exportState().tokens?.refreshToken).toMatch(/^rt-/)
		expect(codeExchanges()).toBe(1)
	})

	it('two sign-ins pending at once both complete, each with its own verifier', async () => {
		const { signIn, complete } = broker()
		const first = await signIn({ returnTo: '/a' })
		const second = await signIn({ returnTo: '/b' })
		expect((await complete(idp.authorize(second))).location).toBe('/b')
		expect((await complete(idp.authorize(first))).location).toBe('/a')
		expect(codeExchanges()).toBe(2)
	})

	describe('rejections, each named by oauthError, with nothing sent to the token endpoint and the session left as it was', () => {
		async function signedIn() {
			const made = broker()
			await made.complete(idp.authorize(await made.signIn()))
			const before = made.core.exportState()
			const exchangesBefore = codeExchanges()
			const unchanged = () => {
				expect(made.core.exportState()).toEqual(before)
				expect(codeExchanges()).toBe(exchangesBefore)
			}
			return { ...made, unchanged }
		}

		it('a callback opened twice: invalid_state', async () => {
			const { signIn, complete, core } = broker()
			const callback = idp.authorize(await signIn())
			await complete(callback)
			const state = core.exportState()
			const error = await refusal(complete(callback))
			expect(error.oauthError).toBe('invalid_state')
			expect(core.exportState()).toEqual(state)
			expect(codeExchanges()).toBe(1)
		})

		it('a state the broker did not issue: invalid_state', async () => {
			const { signIn, complete, unchanged } = await signedIn()
			const error = await refusal(complete(idp.authorize(await signIn(), { state: 'forged-state-value' })))
			expect(error.oauthError).toBe('invalid_state')
			unchanged()
		})

		it('no state at all: invalid_state', async () => {
			const { complete, unchanged } = await signedIn()
			expect((await refusal(complete(`${ORIGIN}/callback?code=abc`))).oauthError).toBe('invalid_state')
			unchanged()
		})

		it('a pending sign-in older than 10 minutes: invalid_state', async () => {
			let now = Date.now()
			const { signIn, complete } = broker({ now: () => now })
			const callback = idp.authorize(await signIn())
			now += PENDING_SIGN_IN_TTL_MS + 1
			expect((await refusal(complete(callback))).oauthError).toBe('invalid_state')
			expect(codeExchanges()).toBe(0)
		})

		it("the provider's error answer: its error (access_denied), and the state is used up", async () => {
			const { signIn, complete, unchanged } = await signedIn()
			const authorization = await signIn()
			const error = await refusal(complete(idp.authorize(authorization, { error: 'access_denied' })))
			expect(error.oauthError).toBe('access_denied')
			expect(error.message).toContain('access_denied')
			unchanged()
			expect((await refusal(complete(idp.authorize(authorization)))).oauthError).toBe('invalid_state')
		})

		it('an iss that is not the issuer (RFC 9207): invalid_issuer', async () => {
			const { signIn, complete, unchanged } = await signedIn()
			const error = await refusal(complete(idp.authorize(await signIn(), { iss: 'https://evil.test' })))
			expect(error.oauthError).toBe('invalid_issuer')
			unchanged()
		})

		it('no iss where the provider promised one: invalid_issuer', async () => {
			const { signIn, complete } = broker()
			const url = new URL(idp.authorize(await signIn()))
			url.searchParams.delete('iss')
			expect((await refusal(complete(url.href))).oauthError).toBe('invalid_issuer')
			expect(codeExchanges()).toBe(0)
		})

		it('an answer at another path than the redirect URI: invalid_request', async () => {
			const { signIn, complete } = broker()
			const url = new URL(idp.authorize(await signIn()))
			url.pathname = '/elsewhere'
			expect((await refusal(complete(url.href))).oauthError).toBe('invalid_request')
			expect(codeExchanges()).toBe(0)
		})

		for (const [name, fault] of [
			['a nonce of another sign-in', { nonce: 'other' }],
			['another audience', { aud: 'someone-else' }],
			['another issuer', { iss: 'https://evil.test' }],
			['an expired ID token', { expiresIn: -3600 }],
		] as const) {
			it(`an ID token with ${name}: invalid_id_token, and no session`, async () => {
				const { signIn, complete, core, broadcasts } = broker()
				const callback = idp.authorize(await signIn())
				idp.state.fault = fault
				expect((await refusal(complete(callback))).oauthError).toBe('invalid_id_token')
				expect(core.exportState().tokens).toBeNull()
				expect(broadcasts).toEqual([])
			})
		}

		it('a code the token endpoint refuses: its error (invalid_grant) and status', async () => {
			const { signIn, complete } = broker()
			const url = new URL(idp.authorize(await signIn()))
			url.searchParams.set('code', 'not-issued')
			const error = await refusal(complete(url.href))
			expect(error.oauthError).toBe('invalid_grant')
			expect(error.status).toBe(400)
		})

		it('a returnTo on another origin: invalid_request, and no sign-in is kept', async () => {
			const { signIn } = broker()
			expect((await refusal(signIn({ returnTo: 'https://evil.test/phish' }))).oauthError).toBe('invalid_request')
		})

		it('a broker whose refresh is not openIdProvider cannot sign in', async () => {
			const { signIn } = broker({ refresh: oauth2Refresh({ tokenEndpoint: `${idp.issuer}/token`, clientId: 'app' }) })
			const error = await refusal(signIn())
			expect(error.message).toContain('openIdProvider')
		})
	})

	describe('plain http only for loopback', () => {
		it('refuses an http issuer on any other host', () => {
			expect(() => openIdProvider({ issuer: 'http://idp.example.test', clientId: 'app', redirectUri: '/cb' })).toThrow(LoginFailedError)
		})

		it("refuses metadata that points a loopback issuer's endpoints at http elsewhere, before any request there", async () => {
			idp.state.tokenEndpoint = 'http://idp.example.test/token'
			const { signIn, complete, core } = broker()
			const error = await refusal(complete(idp.authorize(await signIn())))
			expect(error.message).toContain('not https')
			expect(codeExchanges()).toBe(0)
			expect(core.exportState().tokens).toBeNull()
		})
	})

	describe('refresh and logout', () => {
		it('a refresh without a new ID token keeps the user; one with a new ID token brings its claims', async () => {
			const { signIn, complete, core } = broker()
			const first = await complete(idp.authorize(await signIn()))
			const refreshed = await core.handle({ type: 'refresh', failedToken: first.accessToken })
			expect(refreshed.accessToken).not.toBe(first.accessToken)
			expect(refreshed.user).toMatchObject({ name: 'Ada' })
			idp.state.refreshIdToken = true
			idp.state.name = 'Ada Lovelace'
			const again = await core.handle({ type: 'refresh', failedToken: refreshed.accessToken })
			expect(again.user).toMatchObject({ name: 'Ada Lovelace' })
			expect(idp.tokenRequests.filter((form) => form.grant_type === 'refresh_token').map((form) => form.refresh_token)).toHaveLength(2)
		})

		it('logout with endSession: every tab is logged out, the refresh token revoked, the reply names the end-session URL with id_token_hint', async () => {
			const { signIn, complete, core, broadcasts } = broker()
			await complete(idp.authorize(await signIn()))
			const refreshToken = core.exportState().tokens?.refreshToken
			const answer = await core.handle({ type: 'logout', tab: 't1', endSession: true })
			expect(answer.accessToken).toBeNull()
			expect(broadcasts.at(-1)).toMatchObject({ type: 'logout', reason: 'user' })
			const location = new URL(answer.location ?? '')
			expect(location.origin + location.pathname).toBe(`${idp.issuer}/end`)
			expect(location.searchParams.get('client_id')).toBe('app')
			expect(location.searchParams.get('post_logout_redirect_uri')).toBe(`${ORIGIN}/bye`)
			expect(location.searchParams.get('id_token_hint')?.split('.')).toHaveLength(3)
			await core.idle()
			expect(idp.revoked).toEqual([refreshToken])
		})

		it('logout without endSession answers no location', async () => {
			const { signIn, complete, core } = broker()
			await complete(idp.authorize(await signIn()))
			expect((await core.handle({ type: 'logout', tab: 't1' })).location).toBeUndefined()
		})
	})

	describe('the sign-in messages at the trust boundary', () => {
		it('accepts sign-in and complete-sign-in, and refuses bad fields', () => {
			expect(parseRequest(envelope({ type: 'sign-in', options: { returnTo: '/x', params: { audience: 'a' } } })).kind).toBe('ok')
			expect(parseRequest(envelope({ type: 'complete-sign-in', url: 'https://app.test/cb?code=1&state=2' })).kind).toBe('ok')
			expect(parseRequest(envelope({ type: 'sign-in', options: { params: { audience: 1 } } })).kind).toBe('invalid')
			expect(parseRequest(envelope({ type: 'complete-sign-in', url: '' })).kind).toBe('invalid')
			expect(parseRequest(envelope({ type: 'logout', tab: 't', endSession: 'yes' })).kind).toBe('invalid')
		})

		it('a page cannot set the user: login drops an ID token and claims', () => {
			const parsed = parseRequest(envelope({ type: 'login', tokens: { accessToken: 'a', idToken: 'x.y.z', user: { sub: 'admin' } } }))
			expect(parsed).toEqual({ kind: 'ok', message: { type: 'login', tokens: { accessToken: 'a' } } })
		})
	})
})
