import { afterEach, describe, expect, it } from 'vitest'
import { BrokerCore } from '../../src/core/broker-core.js'
import { DPoPKeys } from '../../src/core/dpop/key-ring.js'
import { exchangeWith } from '../../src/core/exchange.js'
import { oauth2Refresh } from '../../src/core/presets.js'
import { type OidcProvider, startOidcProvider } from '../../testing/oidc-provider.js'

let provider: OidcProvider | undefined
afterEach(async () => {
	await provider?.close()
	provider = undefined
})

async function brokerAt(options: { requireNonce?: boolean }) {
	provider = await startOidcProvider({ redirectUris: ['http://127.0.0.1:9/callback'], dpop: true, ...options })
	const keys = new DPoPKeys()
	const core = new BrokerCore({
		refresh: oauth2Refresh({ tokenEndpoint: provider.tokenEndpoint, clientId: provider.clientId, revocationEndpoint: provider.revocationEndpoint }),
		exchange: exchangeWith(),
		exchangeUrls: () => true,
		origin: 'http://127.0.0.1:9',
		broadcast: () => undefined,
		dpop: keys,
	})
	const { exchange } = await provider.signIn()
	const signedIn = await core.handle({ type: 'exchange', request: exchange })
	return { core, keys, signedIn, provider }
}

describe('startOidcProvider({ dpop: true }) with the DPoP broker', () => {
	it("issues DPoP-bound tokens to the code exchange and the refresh, bound to the broker's key", async () => {
		const { core, keys, signedIn, provider } = await brokerAt({})
		expect(signedIn.tokenType).toBe('DPoP')
		expect(await provider.verifyAccessToken(signedIn.accessToken!)).toEqual({ sub: 'demo', jkt: keys.current!.jkt })
		const refreshed = await core.handle({ type: 'refresh', failedToken: signedIn.accessToken })
		expect(refreshed.tokenType).toBe('DPoP')
		expect(await provider.verifyAccessToken(refreshed.accessToken!)).toEqual({ sub: 'demo', jkt: keys.current!.jkt })
		expect(provider.stats()).toMatchObject({ refreshSuccesses: 1, reuseDetections: 0 })
	})

	it('with requireNonce, the nonce costs one extra trip at the token endpoint, and the refresh still succeeds once', async () => {
		const { core, signedIn, provider } = await brokerAt({ requireNonce: true })
		expect(signedIn.tokenType).toBe('DPoP')
		await core.handle({ type: 'refresh', failedToken: signedIn.accessToken })
		// The nonce the code exchange was challenged for is kept for the origin: the refresh needs no extra trip.
		expect(provider.stats()).toMatchObject({ signIns: 1, refreshCalls: 1, refreshSuccesses: 1, reuseDetections: 0 })
	})

	it('refuses a code exchange without a proof: the client must send DPoP', async () => {
		provider = await startOidcProvider({ redirectUris: ['http://127.0.0.1:9/callback'], dpop: true })
		const { exchange } = await provider.signIn()
		const response = await fetch(exchange.url, { method: 'POST', body: new URLSearchParams(exchange.body) })
		expect(response.status).toBe(400)
	})
})
