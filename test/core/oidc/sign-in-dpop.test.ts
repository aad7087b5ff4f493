import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BrokerCore } from '../../../src/core/broker-core.js'
import { DPoPKeys } from '../../../src/core/dpop/key-ring.js'
import { memoryKeyStore } from '../memory-key-store.js'
import { LoginFailedError } from '../../../src/core/errors/login-failed-error.js'
import { openIdProvider } from '../../../src/core/oidc/open-id-provider.js'
import { memoryPendingSignIns } from '../../../src/core/oidc/pending-sign-in.js'
import { type FakeProvider, startFakeProvider } from './fake-provider.js'

const ORIGIN = 'https://app.test'

let idp: FakeProvider
beforeEach(async () => {
	idp = await startFakeProvider()
	idp.state.dpop = {}
})
afterEach(() => idp.close())

/** createTokenBroker({ refresh: openIdProvider(…), dpop: true }), as the hosts build it. */
function broker() {
	const keys = memoryKeyStore()
	const dpop = new DPoPKeys(keys)
	const core = new BrokerCore({
		refresh: openIdProvider({ issuer: idp.issuer, clientId: 'app', redirectUri: '/callback' }),
		exchange: async () => {
			throw new Error('no exchange in these tests')
		},
		exchangeUrls: () => false,
		origin: ORIGIN,
		broadcast: () => undefined,
		pendingSignIns: memoryPendingSignIns(),
		dpop,
	})
	const signIn = async () => (await core.handle({ type: 'sign-in', options: {} })).location ?? ''
	const complete = (url: string) => core.handle({ type: 'complete-sign-in', url })
	return { core, keys, dpop, signIn, complete }
}

const codeExchanges = () => idp.proofs.filter((proof) => proof.grant === 'authorization_code')

describe('openIdProvider with dpop: true', () => {
	it('the code exchange carries a valid proof of a new key, the one adopted and the tokens are bound to', async () => {
		const { signIn, complete, keys, dpop } = broker()
		const snapshot = await complete(idp.authorize(await signIn()))
		const [exchange, ...others] = codeExchanges()
		expect(others).toEqual([])
		expect(exchange).toMatchObject({ status: 200, jkt: expect.any(String) })
		expect(snapshot.tokenType).toBe('DPoP')
		expect(snapshot.dpop?.jkt).toBe(exchange?.jkt)
		expect(snapshot.dpop?.keyPair.privateKey.extractable).toBe(false)
		expect(dpop.current?.jkt).toBe(exchange?.jkt)
		expect(keys.saved).toBe(snapshot.dpop?.keyPair)
	})

	it('each sign-in proves a key of its own', async () => {
		const { signIn, complete } = broker()
		await complete(idp.authorize(await signIn()))
		await complete(idp.authorize(await signIn()))
		const jkts = codeExchanges().map((proof) => proof.jkt)
		expect(jkts).toHaveLength(2)
		expect(new Set(jkts).size).toBe(2)
	})

	it('a use_dpop_nonce answer to the code exchange is sent once more with the nonce, and the sign-in completes', async () => {
		idp.state.dpop = { requireNonce: true }
		const { signIn, complete } = broker()
		const snapshot = await complete(idp.authorize(await signIn()))
		expect(codeExchanges().map(({ status, error }) => [status, error])).toEqual([
			[400, 'use_dpop_nonce'],
			[200, undefined],
		])
		expect(snapshot.tokenType).toBe('DPoP')
	})

	it('the nonce learned at the code exchange serves the refresh and the revocation, with no extra trip', async () => {
		idp.state.dpop = { requireNonce: true }
		const { signIn, complete, core } = broker()
		const signedIn = await complete(idp.authorize(await signIn()))
		const refreshed = await core.handle({ type: 'refresh', failedToken: signedIn.accessToken })
		expect(refreshed.tokenType).toBe('DPoP')
		await core.handle({ type: 'logout', tab: 't1' })
		await core.idle()
		expect(idp.proofs.map(({ path, grant, status }) => [path, grant, status])).toEqual([
			['/token', 'authorization_code', 400],
			['/token', 'authorization_code', 200],
			['/token', 'refresh_token', 200],
			['/revoke', undefined, 200],
		])
	})

	it('the refresh and the revocation carry proofs of the key the sign-in adopted, and the bound refresh token is accepted', async () => {
		const { signIn, complete, core } = broker()
		const signedIn = await complete(idp.authorize(await signIn()))
		const refreshed = await core.handle({ type: 'refresh', failedToken: signedIn.accessToken })
		expect(refreshed.accessToken).not.toBe(signedIn.accessToken)
		expect(refreshed.dpop?.jkt).toBe(signedIn.dpop?.jkt)
		await core.handle({ type: 'logout', tab: 't1' })
		await core.idle()
		expect(idp.revoked).toHaveLength(1)
		expect(idp.proofs.map(({ path, jkt }) => [path, jkt])).toEqual([
			['/token', signedIn.dpop?.jkt],
			['/token', signedIn.dpop?.jkt],
			['/revoke', signedIn.dpop?.jkt],
		])
	})

	it('a sign-in the token endpoint refuses adopts no key: the session and the stored key stay as they were', async () => {
		const { signIn, complete, keys, dpop, core } = broker()
		const first = await complete(idp.authorize(await signIn()))
		const url = new URL(idp.authorize(await signIn()))
		url.searchParams.set('code', 'not-issued')
		const error = await complete(url.href).then(
			() => undefined,
			(error: unknown) => error,
		)
		expect(error).toBeInstanceOf(LoginFailedError)
		expect((error as LoginFailedError).oauthError).toBe('invalid_grant')
		const refused = codeExchanges().at(-1)
		// The refused exchange was proved, with a key other than the session's…
		expect(refused?.jkt).toEqual(expect.any(String))
		expect(refused?.jkt).not.toBe(first.dpop?.jkt)
		// …and that key was not adopted.
		expect(dpop.current?.jkt).toBe(first.dpop?.jkt)
		expect(keys.saved).toBe(first.dpop?.keyPair)
		expect(core.snapshot().dpop?.jkt).toBe(first.dpop?.jkt)
	})

	it('a first sign-in with a bad ID token leaves no key at all', async () => {
		const { signIn, complete, keys, dpop } = broker()
		const callback = idp.authorize(await signIn())
		idp.state.fault = { nonce: 'other' }
		const error = await complete(callback).then(
			() => undefined,
			(error: unknown) => error,
		)
		expect((error as LoginFailedError).oauthError).toBe('invalid_id_token')
		expect(codeExchanges()).toHaveLength(1)
		expect(dpop.current).toBeUndefined()
		expect(keys.saved).toBeUndefined()
	})
})
