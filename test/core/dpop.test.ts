import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { DPoPKeys, type DPoPKeyStore } from '../../src/core/dpop/key-ring.js'
import { memoryKeyStore } from './memory-key-store.js'
import { asksForNonce } from '../../src/core/dpop/nonce.js'
import { generateKeyPair, prover } from '../../src/core/dpop/prover.js'
import { sendWithProof } from '../../src/core/dpop/send-with-proof.js'
import { serverClock } from '../../src/core/dpop/server-clock.js'
import { dpopVerifier, jwkThumbprint } from '../../server/dpop-verifier.js'

const decode = (proof: string) => {
	const [header, payload] = proof.split('.')
	return { header: JSON.parse(Buffer.from(header!, 'base64url').toString()), claims: JSON.parse(Buffer.from(payload!, 'base64url').toString()) }
}
const headers = (entries: Record<string, string>) => new Headers(entries)

async function newProver(offsetMs = 0) {
	return prover(await generateKeyPair(), serverClock(offsetMs))
}

describe('DPoP proofs', () => {
	it('carry typ dpop+jwt, ES256 and the public key only', async () => {
		const { header } = decode(await (await newProver()).proof('GET', 'https://api.test/x'))
		expect(header.typ).toBe('dpop+jwt')
		expect(header.alg).toBe('ES256')
		expect(header.jwk).toMatchObject({ kty: 'EC', crv: 'P-256' })
		expect(header.jwk.d).toBeUndefined()
	})

	it('name the method in htm, upper case', async () => {
		expect(decode(await (await newProver()).proof('post', 'https://api.test/x')).claims.htm).toBe('POST')
	})

	it('name the URL in htu without query and fragment', async () => {
		expect(decode(await (await newProver()).proof('GET', 'https://api.test/orders/7?page=2#top')).claims.htu).toBe('https://api.test/orders/7')
	})

	it("take iat from the clock the servers' Date headers corrected", async () => {
		const clock = serverClock()
		const p = await prover(await generateKeyPair(), clock)
		const serverNow = Date.now() + 5 * 60_000
		clock.observe({ headers: headers({ date: new Date(serverNow).toUTCString() }) })
		const { iat } = decode(await p.proof('GET', 'https://api.test/')).claims
		expect(Math.abs(iat - serverNow / 1000)).toBeLessThanOrEqual(2)
	})

	it('give every proof its own jti', async () => {
		const p = await newProver()
		const jtis = new Set(await Promise.all(Array.from({ length: 20 }, async () => decode(await p.proof('GET', 'https://api.test/')).claims.jti)))
		expect(jtis.size).toBe(20)
	})

	it('carry ath, the SHA-256 of the access token, only with a token', async () => {
		const p = await newProver()
		expect(decode(await p.proof('GET', 'https://api.test/', 'tok')).claims.ath).toBe(createHash('sha256').update('tok').digest('base64url'))
		expect(decode(await p.proof('POST', 'https://as.test/token')).claims.ath).toBeUndefined()
	})

	it("carry the nonce a server of the same origin gave, and no other server's", async () => {
		const p = await newProver()
		p.observe('https://api.test/a', { headers: headers({ 'dpop-nonce': 'n-1' }) })
		expect(decode(await p.proof('GET', 'https://api.test/b')).claims.nonce).toBe('n-1')
		expect(decode(await p.proof('GET', 'https://other.test/b')).claims.nonce).toBeUndefined()
		p.observe('https://api.test/a', { headers: headers({ 'dpop-nonce': 'n-2' }) })
		expect(decode(await p.proof('GET', 'https://api.test/b')).claims.nonce).toBe('n-2')
	})

	it('are signed by the key whose thumbprint they name, and the verifier accepts them', async () => {
		const p = await newProver()
		const proof = await p.proof('GET', 'https://api.test/x?y=1', 'tok')
		expect(jwkThumbprint(decode(proof).header.jwk)).toBe(p.jkt)
		const verdict = await dpopVerifier().verify(proof, { method: 'GET', url: 'https://api.test/x?y=1', accessToken: 'tok', jkt: p.jkt })
		expect(verdict).toMatchObject({ ok: true })
	})

	it('come from a key whose private part cannot be exported', async () => {
		const p = await newProver()
		expect(p.keyPair.privateKey.extractable).toBe(false)
		await expect(crypto.subtle.exportKey('jwk', p.keyPair.privateKey)).rejects.toThrow()
	})
})

describe('the proof verifier (testing kit)', () => {
	it('refuses a replayed jti, a wrong htm, htu, ath, key, and an iat outside the window', async () => {
		const p = await newProver()
		const other = await newProver()
		const verifier = dpopVerifier()
		const url = 'https://api.test/x'
		const jkt = p.jkt
		const proof = await p.proof('GET', url, 'tok')
		expect((await verifier.verify(proof, { method: 'GET', url, accessToken: 'tok', jkt })).ok).toBe(true)
		expect(await verifier.verify(proof, { method: 'GET', url, accessToken: 'tok', jkt })).toMatchObject({ ok: false, reason: expect.stringContaining('jti') })
		expect(await verifier.verify(await p.proof('GET', url, 'tok'), { method: 'POST', url, accessToken: 'tok', jkt })).toMatchObject({ ok: false, reason: expect.stringContaining('htm') })
		expect(await verifier.verify(await p.proof('GET', url, 'tok'), { method: 'GET', url: 'https://api.test/y', accessToken: 'tok', jkt })).toMatchObject({
			ok: false,
			reason: expect.stringContaining('htu'),
		})
		expect(await verifier.verify(await p.proof('GET', url, 'tok'), { method: 'GET', url, accessToken: 'other', jkt })).toMatchObject({ ok: false, reason: expect.stringContaining('ath') })
		expect(await verifier.verify(await other.proof('GET', url, 'tok'), { method: 'GET', url, accessToken: 'tok', jkt })).toMatchObject({ ok: false, reason: expect.stringContaining('another key') })
		const skewed = await prover(p.keyPair, serverClock(-5 * 60_000))
		expect(await verifier.verify(await skewed.proof('GET', url, 'tok'), { method: 'GET', url, accessToken: 'tok', jkt })).toMatchObject({ ok: false, reason: expect.stringContaining('iat') })
	})

	it('refuses a proof whose signature does not match its payload', async () => {
		const p = await newProver()
		const [header, , signature] = (await p.proof('GET', 'https://api.test/x')).split('.')
		const forged = Buffer.from(JSON.stringify({ htm: 'GET', htu: 'https://api.test/x', iat: Math.floor(Date.now() / 1000), jti: 'forged-jti-1' })).toString('base64url')
		expect(await dpopVerifier().verify(`${header}.${forged}.${signature}`, { method: 'GET', url: 'https://api.test/x' })).toMatchObject({ ok: false, reason: expect.stringContaining('signature') })
	})
})

describe('nonces', () => {
	it("a token endpoint's 400 use_dpop_nonce with a DPoP-Nonce asks for the nonce", async () => {
		expect(await asksForNonce({ status: 400, headers: headers({ 'dpop-nonce': 'n' }) }, async () => 'use_dpop_nonce')).toBe(true)
		expect(await asksForNonce({ status: 400, headers: headers({}) }, async () => 'use_dpop_nonce')).toBe(false)
		expect(await asksForNonce({ status: 400, headers: headers({ 'dpop-nonce': 'n' }) }, async () => 'invalid_grant')).toBe(false)
	})

	it("a resource server's 401 WWW-Authenticate use_dpop_nonce asks for it; invalid_token does not", async () => {
		// Told by the headers alone: the body is never read.
		const unread = () => Promise.reject(new Error('a resource server answer was read for its body'))
		expect(await asksForNonce({ status: 401, headers: headers({ 'dpop-nonce': 'n', 'www-authenticate': 'DPoP error="use_dpop_nonce", algs="ES256"' }) }, unread)).toBe(true)
		expect(await asksForNonce({ status: 401, headers: headers({ 'dpop-nonce': 'n', 'www-authenticate': 'DPoP error="invalid_token"' }) }, unread)).toBe(false)
	})
})

describe('sendWithProof (token endpoint requests)', () => {
	const servers: Array<{ close(): void }> = []
	afterEach(() => {
		for (const server of servers.splice(0)) server.close()
	})

	/** A token endpoint that requires nonce 'n-1' (and later 'n-2'), counting the requests it gets. */
	async function tokenEndpoint(nonces: string[]) {
		const verifier = dpopVerifier()
		const seen: Array<{ nonce?: string }> = []
		let nonce = nonces.shift()!
		const server = createServer((req, res) => {
			void (async () => {
				const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${req.url}`
				const verdict = await verifier.verify(req.headers.dpop as string | undefined, { method: req.method!, url, nonce })
				seen.push({ nonce: verdict.ok ? (verdict.claims.nonce as string) : undefined })
				if (!verdict.ok) {
					res.writeHead(400, { 'content-type': 'application/json', 'dpop-nonce': nonce }).end(JSON.stringify({ error: verdict.error }))
					nonce = nonces.shift() ?? nonce
					return
				}
				res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'a', token_type: 'DPoP' }))
			})()
		})
		await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
		servers.push(server)
		return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, seen }
	}

	it('retries a use_dpop_nonce answer once, with the nonce, and keeps it for the next request', async () => {
		const endpoint = await tokenEndpoint(['n-1'])
		const p = await newProver()
		const init = { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token' }) }
		expect((await sendWithProof(p, endpoint.url, init)).status).toBe(200)
		expect(endpoint.seen).toEqual([{ nonce: undefined }, { nonce: 'n-1' }])
		expect((await sendWithProof(p, endpoint.url, init)).status).toBe(200)
		expect(endpoint.seen).toHaveLength(3)
	})

	it("retries only once: a second use_dpop_nonce is the caller's answer", async () => {
		const endpoint = await tokenEndpoint(['n-1', 'n-2', 'n-3'])
		const p = await newProver()
		const response = await sendWithProof(p, endpoint.url, { method: 'POST', body: 'x=1' })
		expect(response.status).toBe(400)
		expect(endpoint.seen).toHaveLength(2)
	})
})

describe('the DPoP key through a session', () => {
	it('a sign-in makes a new key, kept in the store; a restarted broker finds the same key', async () => {
		const store = memoryKeyStore()
		const keys = new DPoPKeys(store)
		const first = await keys.create()
		expect(keys.current).toBeUndefined()
		await keys.adopt(first)
		const second = await keys.create()
		expect(second.jkt).not.toBe(first.jkt)
		const restarted = new DPoPKeys(store)
		await restarted.restore()
		expect(restarted.current!.jkt).toBe(first.jkt)
	})

	it('logout drops the key from memory and store, and hands it to the revocation still to sign', async () => {
		const store = memoryKeyStore()
		const keys = new DPoPKeys(store)
		const key = await keys.create()
		await keys.adopt(key)
		const dropped = keys.drop()
		expect(dropped.key).toBe(key)
		expect(keys.current).toBeUndefined()
		await dropped.cleared
		expect(store.saved).toBeUndefined()
	})

	it('without a working store the key lives in memory', async () => {
		const failing: DPoPKeyStore = {
			load: () => Promise.reject(new Error('no IndexedDB')),
			save: () => Promise.reject(new Error('no IndexedDB')),
			clear: () => Promise.reject(new Error('no IndexedDB')),
		}
		const keys = new DPoPKeys(failing)
		await keys.restore()
		const key = await keys.forRefresh()
		expect(keys.current).toBe(key)
	})

	it('a stored key that could be exported is not used', async () => {
		const store = memoryKeyStore()
		store.saved = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
		const keys = new DPoPKeys(store)
		await keys.restore()
		expect(keys.current).toBeUndefined()
	})
})
