import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { BrokerCore, type SessionStore } from '../../src/core/broker-core.js'
import { DPoPKeys, type DPoPKeyStore } from '../../src/core/dpop/key-ring.js'
import { memoryKeyStore } from './memory-key-store.js'
import { exchangeWith } from '../../src/core/exchange.js'
import { oauth2Refresh } from '../../src/core/presets.js'
import type { BrokerBroadcast } from '../../src/core/protocol.js'
import { dpopVerifier } from '../../server/dpop-verifier.js'

/**
 * A token endpoint that binds what it issues to the proof's key, as RFC 9449 §5 has it: the
 * refresh token is bound too, so a refresh with another key (or none) is refused.
 */
async function startAuthServer(options: { requireNonce?: boolean; bearerOnly?: boolean } = {}) {
	const verifier = dpopVerifier()
	const bound = new Map<string, string | undefined>()
	const requests: Array<{ path: string; grant?: string; jkt?: string; status: number }> = []
	let issued = 0
	const nonce = 'nonce-1'
	const read = (req: IncomingMessage) =>
		new Promise<URLSearchParams>((resolve) => {
			let text = ''
			req.on('data', (chunk) => (text += chunk))
			req.on('end', () => resolve(new URLSearchParams(text)))
		})
	const server: Server = createServer((req, res) => {
		void (async () => {
			const body = await read(req)
			const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${req.url}`
			const answer = (status: number, json: object, headers: Record<string, string> = {}, jkt?: string) => {
				requests.push({ path: req.url!, grant: body.get('grant_type') ?? undefined, jkt, status })
				res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(json))
			}
			const verdict = await verifier.verify(req.headers.dpop as string | undefined, { method: 'POST', url, ...(options.requireNonce ? { nonce } : {}) })
			if (!verdict.ok && !options.bearerOnly) return answer(400, { error: verdict.error }, verdict.error === 'use_dpop_nonce' ? { 'dpop-nonce': nonce } : {})
			const jkt = verdict.ok && !options.bearerOnly ? verdict.jkt : undefined
			if (req.url === '/revoke') {
				bound.delete(body.get('token') ?? '')
				return answer(200, {}, {}, jkt)
			}
			if (body.get('grant_type') === 'refresh_token') {
				const token = body.get('refresh_token') ?? ''
				if (!bound.has(token) || bound.get(token) !== jkt) return answer(400, { error: 'invalid_grant' }, {}, jkt)
				bound.delete(token)
			}
			const refreshToken = `rt-${++issued}`
			bound.set(refreshToken, jkt)
			answer(200, { access_token: `at-${issued}`, refresh_token: refreshToken, expires_in: 60, token_type: jkt === undefined ? 'Bearer' : 'DPoP' }, {}, jkt)
		})()
	})
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
	const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
	return { origin, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

function memorySessionStore(): SessionStore {
	let saved: unknown
	return {
		load: async () => saved,
		save: async (session) => {
			saved = structuredClone(session)
		},
		clear: async () => {
			saved = undefined
		},
	}
}

function broker(origin: string, keyStore: DPoPKeyStore, store?: SessionStore) {
	const broadcasts: BrokerBroadcast[] = []
	const refresh = oauth2Refresh({ tokenEndpoint: `${origin}/token`, clientId: 'spa', revocationEndpoint: `${origin}/revoke` })
	const core = new BrokerCore({
		refresh,
		exchange: exchangeWith(),
		exchangeUrls: () => true,
		origin,
		broadcast: (message) => broadcasts.push(message),
		dpop: new DPoPKeys(keyStore),
		...(store === undefined ? {} : { store }),
	})
	const signIn = () => core.handle({ type: 'exchange', request: { url: `${origin}/token`, body: { grant_type: 'authorization_code', code: 'c', client_id: 'spa' } } })
	return { core, broadcasts, signIn }
}

describe('createTokenBroker({ dpop: true }): the token endpoint', () => {
	const servers: Array<{ close(): Promise<void> }> = []
	afterEach(async () => {
		for (const server of servers.splice(0)) await server.close()
	})

	it('a sign-in, its refreshes and the revocation all carry proofs of one key, the key the tokens are bound to', async () => {
		const as = await startAuthServer()
		servers.push(as)
		const keys = memoryKeyStore()
		const { core, signIn } = broker(as.origin, keys)
		const signedIn = await signIn()
		expect(signedIn.tokenType).toBe('DPoP')
		expect(signedIn.dpop?.keyPair.privateKey.extractable).toBe(false)
		const refreshed = await core.handle({ type: 'refresh', failedToken: signedIn.accessToken })
		expect(refreshed.accessToken).toBe('at-2')
		expect(refreshed.dpop?.keyPair).toBe(signedIn.dpop?.keyPair)
		await core.handle({ type: 'logout', tab: 't' })
		await core.idle()
		const jkts = new Set(as.requests.map((r) => r.jkt))
		expect(as.requests.map((r) => [r.path, r.status])).toEqual([
			['/token', 200],
			['/token', 200],
			['/revoke', 200],
		])
		expect(jkts.size).toBe(1)
		expect([...jkts][0]).toEqual(expect.any(String))
	})

	it('each sign-in makes a new key; logout deletes it from the store', async () => {
		const as = await startAuthServer()
		servers.push(as)
		const keys = memoryKeyStore()
		const { core, signIn } = broker(as.origin, keys)
		const first = await signIn()
		expect(keys.saved).toBe(first.dpop?.keyPair)
		await core.handle({ type: 'logout', tab: 't' })
		expect(keys.saved).toBeUndefined()
		expect(core.snapshot().dpop).toBeUndefined()
		const second = await signIn()
		expect(second.dpop?.keyPair).not.toBe(first.dpop?.keyPair)
		expect(new Set(as.requests.filter((r) => r.grant === 'authorization_code').map((r) => r.jkt)).size).toBe(2)
	})

	it('a broker restarted over the stores refreshes with the same key, and the bound refresh token is accepted', async () => {
		const as = await startAuthServer()
		servers.push(as)
		const keys = memoryKeyStore()
		const sessions = memorySessionStore()
		const signedIn = await broker(as.origin, keys, sessions).signIn()
		const restarted = broker(as.origin, keys, sessions).core
		expect(restarted.snapshot().accessToken).toBe(null)
		const refreshed = await restarted.handle({ type: 'refresh', failedToken: signedIn.accessToken })
		expect(refreshed.accessToken).toBe('at-2')
		expect(refreshed.tokenType).toBe('DPoP')
		expect(as.requests[1]).toMatchObject({ grant: 'refresh_token', status: 200, jkt: as.requests[0]!.jkt })
	})

	it("a new worker version that read the store before its predecessor signed in takes the predecessor's key with its session", async () => {
		const as = await startAuthServer()
		servers.push(as)
		const keys = memoryKeyStore()
		const previous = broker(as.origin, keys)
		const next = broker(as.origin, keys)
		await next.core.handle({ type: 'hello' })
		const signedIn = await previous.signIn()
		expect(next.core.importState(previous.core.exportState())).toBe(true)
		const refreshed = await next.core.handle({ type: 'refresh', failedToken: signedIn.accessToken })
		expect(refreshed.accessToken).toBe('at-2')
		expect(as.requests[1]).toMatchObject({ grant: 'refresh_token', status: 200, jkt: as.requests[0]!.jkt })
	})

	it('a broker that lost the key cannot redeem the bound refresh token: the session ends', async () => {
		const as = await startAuthServer()
		servers.push(as)
		const sessions = memorySessionStore()
		const signedIn = await broker(as.origin, memoryKeyStore(), sessions).signIn()
		const withoutKey = broker(as.origin, memoryKeyStore(), sessions).core
		await expect(withoutKey.handle({ type: 'refresh', failedToken: signedIn.accessToken })).rejects.toMatchObject({ name: 'LoggedOutError' })
		expect(as.requests[1]).toMatchObject({ grant: 'refresh_token', status: 400 })
	})

	it('a token endpoint that requires a nonce costs one extra trip, once: later requests carry the nonce', async () => {
		const as = await startAuthServer({ requireNonce: true })
		servers.push(as)
		const { core, signIn } = broker(as.origin, memoryKeyStore())
		const signedIn = await signIn()
		await core.handle({ type: 'refresh', failedToken: signedIn.accessToken })
		expect(as.requests.map((r) => r.status)).toEqual([400, 200, 200])
	})

	it('a provider that ignores DPoP (Bearer answers, as Entra ID gives) leaves the tokens bearer: the tabs get no key', async () => {
		const as = await startAuthServer({ bearerOnly: true })
		servers.push(as)
		const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
		const signedIn = await broker(as.origin, memoryKeyStore()).signIn()
		expect(signedIn.tokenType).toBeUndefined()
		expect(signedIn.dpop).toBeUndefined()
		expect(warn).toHaveBeenCalledWith(expect.stringContaining('bearer token'))
		warn.mockRestore()
	})
})
