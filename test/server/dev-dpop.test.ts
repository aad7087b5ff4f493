import { afterEach, describe, expect, it } from 'vitest'
import { type Prover, generateKeyPair, prover } from '../../src/core/dpop/prover.js'
import { serverClock } from '../../src/core/dpop/server-clock.js'
import { type DevAuthServer, startDevAuthServer } from '../../server/dev-auth-server.js'

let server: DevAuthServer | undefined
afterEach(async () => {
	await server?.close()
	server = undefined
})

const newProver = async () => prover(await generateKeyPair(), serverClock())
const form = (fields: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) })

async function signIn(key: Prover) {
	server ??= await startDevAuthServer()
	const response = await key.send(`${server.url}/auth/login`, form({ username: 'demo', password: 'demo' }))
	expect(response.status).toBe(200)
	return (await response.json()) as { access_token: string; refresh_token: string; token_type: string }
}

async function api(key: Prover | undefined, token: string, scheme = 'DPoP', path = '/api/data') {
	const url = `${server!.url}${path}`
	const headers: Record<string, string> = { authorization: `${scheme} ${token}` }
	if (key !== undefined) headers.dpop = await key.proof('GET', url, token)
	return fetch(url, { headers })
}

describe('dev server with DPoP', () => {
	it('a sign-in with a proof issues DPoP-bound tokens, which /api/* takes only with a proof of that key', async () => {
		const key = await newProver()
		const tokens = await signIn(key)
		expect(tokens.token_type).toBe('DPoP')
		expect((await api(key, tokens.access_token)).status).toBe(200)
		expect((await api(undefined, tokens.access_token, 'Bearer')).status).toBe(401)
		const other = await api(await newProver(), tokens.access_token)
		expect(other.status).toBe(401)
		expect(other.headers.get('www-authenticate')).toMatch(/DPoP error="invalid_dpop_proof"/)
		expect(server!.dpopStats()).toMatchObject({ unboundUses: 1, refused: 1 })
		expect(server!.dpopStats().reasons[0]).toMatch(/another key/)
	})

	it('a replayed proof is refused', async () => {
		const key = await newProver()
		const tokens = await signIn(key)
		const url = `${server!.url}/api/data`
		const headers = { authorization: `DPoP ${tokens.access_token}`, dpop: await key.proof('GET', url, tokens.access_token) }
		expect((await fetch(url, { headers })).status).toBe(200)
		expect((await fetch(url, { headers })).status).toBe(401)
		expect(server!.dpopStats().reasons.at(-1)).toMatch(/jti/)
	})

	it("the bound refresh token is refused without a proof and with another key's, and still works with its own", async () => {
		const key = await newProver()
		const tokens = await signIn(key)
		const refresh = form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'demo' })
		const bare = await fetch(`${server!.url}/oauth/token`, refresh)
		expect(bare.status).toBe(400)
		expect(await bare.json()).toMatchObject({ error: 'invalid_grant' })
		const stolen = await (await newProver()).send(`${server!.url}/oauth/token`, form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'demo' }))
		expect(stolen.status).toBe(400)
		const own = await key.send(`${server!.url}/oauth/token`, form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'demo' }))
		expect(own.status).toBe(200)
		expect(await own.json()).toMatchObject({ token_type: 'DPoP' })
		expect(server!.stats().reuseDetections).toBe(0)
	})

	it('with a nonce required, a client pays one extra trip, and its later proofs to that origin carry the nonce', async () => {
		server = await startDevAuthServer()
		server.setDPoPNonce('nonce-abc')
		const key = await newProver()
		const tokens = await signIn(key)
		expect(server.dpopStats().nonceChallenges).toBe(1)
		// The API is on the token endpoint's origin: the nonce is known already.
		expect((await api(key, tokens.access_token)).status).toBe(200)
		// Another tab signs with the same key but has not met the nonce yet.
		const newcomer = await prover(key.keyPair, serverClock())
		const challenged = await api(newcomer, tokens.access_token)
		expect(challenged.status).toBe(401)
		expect(challenged.headers.get('www-authenticate')).toMatch(/use_dpop_nonce/)
		expect(challenged.headers.get('dpop-nonce')).toBe('nonce-abc')
		expect(server.dpopStats().nonceChallenges).toBe(2)
	})

	it('a clock 5 min off and a nonce at once: the sign-in pays one trip for each, and succeeds', async () => {
		server = await startDevAuthServer()
		server.setDPoPNonce('nonce-xyz')
		server.setClockSkew(5 * 60_000)
		const tokens = await signIn(await newProver())
		expect(tokens.token_type).toBe('DPoP')
		expect(server.dpopStats()).toMatchObject({ refused: 1 })
	})

	for (const skewMinutes of [5, -5]) {
		it(`a client clock ${skewMinutes > 0 ? 'behind' : 'ahead of'} the server by 5 min: the first proof is refused, corrected by the Date header, and accepted`, async () => {
			server = await startDevAuthServer()
			server.setClockSkew(skewMinutes * 60_000)
			const key = await newProver()
			const tokens = await signIn(key)
			expect(server.dpopStats()).toMatchObject({ refused: 1 })
			expect(server.dpopStats().reasons[0]).toMatch(/iat/)
			expect((await api(key, tokens.access_token)).status).toBe(200)
			expect(Math.abs(key.clock.offsetMs - skewMinutes * 60_000)).toBeLessThan(2_000)
		})
	}
})
