import { request } from 'node:http'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startDevAuthServer } from '../../server/dev-auth-server.js'
import type { DevAuthServer, DevAuthServerOptions } from '../../server/dev-auth-server.js'

interface TokenBody {
	access_token: string
	token_type: string
	expires_in: number
	refresh_token?: string
}

let server: DevAuthServer

async function start(options: DevAuthServerOptions = {}): Promise<DevAuthServer> {
	server = await startDevAuthServer(options)
	return server
}

function postForm(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
	return fetch(server.url + path, {
		method: 'POST',
		headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
		body: new URLSearchParams(fields).toString(),
	})
}

function postJson(path: string, body: unknown): Promise<Response> {
	return fetch(server.url + path, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify(body),
	})
}

async function login(): Promise<TokenBody> {
	const res = await postJson('/auth/login', { username: 'demo', password: 'demo' })
	expect(res.status).toBe(200)
	return (await res.json()) as TokenBody
}

function refresh(refreshToken: string): Promise<Response> {
	return postForm('/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'demo-app' })
}

function api(accessToken: string, path = '/api/data'): Promise<Response> {
	return fetch(server.url + path, { headers: { authorization: `Bearer ${accessToken}` } })
}

function decodeJwtPayload(token: string): Record<string, unknown> {
	return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
}

function rtCookie(res: Response): string | undefined {
	return /^rt=([^;]*)/.exec(res.headers.get('set-cookie') ?? '')?.[1]
}

/** Sends a raw request target that fetch would normalise away. */
function rawGet(path: string): Promise<{ status: number; body: string }> {
	return new Promise((resolve, reject) => {
		const req = request(server.url, { path, method: 'GET' }, (res) => {
			let body = ''
			res.setEncoding('utf8')
			res.on('data', (chunk: string) => (body += chunk))
			res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
		})
		req.on('error', reject)
		req.end()
	})
}

afterEach(async () => {
	await server.close()
})

describe('login and /api', () => {
	beforeEach(async () => {
		await start()
	})

	it('logs in with the demo credentials and calls the API', async () => {
		const tokens = await login()
		expect(tokens.token_type).toBe('Bearer')
		expect(tokens.expires_in).toBe(10)
		expect(tokens.refresh_token).toMatch(/^rt_[\w-]{43}$/)
		expect(server.issuedRefreshTokens()).toEqual([tokens.refresh_token])

		const res = await api(tokens.access_token)
		expect(res.status).toBe(200)
		expect(await res.json()).toEqual({ ok: true, sub: 'demo', n: 1 })
		expect(await (await api(tokens.access_token)).json()).toMatchObject({ n: 2 })
		expect(server.stats()).toMatchObject({ logins: 1, apiCalls: 2, api401: 0 })
	})

	it('issues an HS256 JWT with the documented claims', async () => {
		const { access_token } = await login()
		const header = JSON.parse(Buffer.from(access_token.split('.')[0] ?? '', 'base64url').toString('utf8')) as unknown
		expect(header).toEqual({ alg: 'HS256', typ: 'JWT' })
		const claims = decodeJwtPayload(access_token)
		expect(claims).toMatchObject({ sub: 'demo', sid: expect.any(String), jti: expect.any(String) })
		expect(claims.exp_ms).toBeGreaterThan(Date.now())
		expect(claims.exp).toBe((claims.exp_ms as number) / 1000)
		expect(Number.isInteger(claims.iat)).toBe(true)
	})

	it('accepts form-encoded login and rejects bad credentials', async () => {
		expect((await postForm('/auth/login', { username: 'demo', password: 'demo' })).status).toBe(200)
		const bad = await postForm('/auth/login', { username: 'demo', password: 'nope' })
		expect(bad.status).toBe(401)
		expect(await bad.json()).toEqual({ error: 'invalid_credentials' })
		expect(server.stats().logins).toBe(1)
	})

	it('/api/redirect answers a loopback redirect with the status asked for (302 by default), and only a redirect status', async () => {
		const to = encodeURIComponent(`${server.url}/api/echo`)
		for (const [query, status] of [
			['', 302],
			['&status=307', 307],
			['&status=308', 308],
		] as const) {
			const res = await fetch(`${server.url}/api/redirect?to=${to}${query}`, { method: 'POST', redirect: 'manual' })
			expect(res.status).toBe(status)
			expect(res.headers.get('location')).toBe(`${server.url}/api/echo`)
		}
		expect((await fetch(`${server.url}/api/redirect?to=${to}&status=200`, { redirect: 'manual' })).status).toBe(400)
	})

	it('answers /api/echo and other /api paths', async () => {
		const { access_token } = await login()
		const echo = (await (await api(access_token, '/api/echo')).json()) as { headers: Record<string, string> }
		expect(echo.headers.authorization).toBe(`Bearer ${access_token}`)
		expect(await (await api(access_token, '/api/things/1')).json()).toEqual({ ok: true, path: '/api/things/1' })
	})

	it('rejects missing, malformed and forged tokens with 401 invalid_token', async () => {
		const { access_token } = await login()
		const [header, payload] = access_token.split('.')
		const forged = `${header}.${payload}.${'A'.repeat(43)}`
		const noneAlg = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`
		const responses = [
			await fetch(`${server.url}/api/data`),
			await api('not-a-jwt'),
			await api(forged),
			await api(noneAlg),
			await fetch(`${server.url}/api/data`, { headers: { authorization: 'Basic abc' } }),
		]
		for (const res of responses) {
			expect(res.status).toBe(401)
			expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
			expect(await res.json()).toEqual({ error: 'invalid_token' })
		}
		expect(server.stats()).toMatchObject({ apiCalls: 5, api401: 5 })
	})

	it('records /api request headers, including failed ones, newest last', async () => {
		const { access_token } = await login()
		await api(access_token)
		await fetch(`${server.url}/api/data`, { headers: { 'x-test': 'second' } })
		const headers = server.lastApiHeaders()
		expect(headers).toHaveLength(2)
		expect(headers[0]?.authorization).toBe(`Bearer ${access_token}`)
		expect(headers[1]?.['x-test']).toBe('second')
		expect(headers[1]?.authorization).toBeUndefined()
	})
})

describe('access token expiry', () => {
	it('rejects tokens once their TTL has passed', async () => {
		await start({ accessTtlMs: 100 })
		const { access_token, expires_in } = await login()
		expect(expires_in).toBe(0.1)
		expect((await api(access_token)).status).toBe(200)
		await new Promise((resolve) => setTimeout(resolve, 150))
		expect((await api(access_token)).status).toBe(401)
		expect(server.stats().api401).toBe(1)
	})

	it('expireAccessTokens() kills issued access tokens but not refresh tokens or later tokens', async () => {
		await start()
		const tokens = await login()
		server.expireAccessTokens()
		expect((await api(tokens.access_token)).status).toBe(401)
		expect(server.stats().api401).toBe(1)

		const res = await refresh(tokens.refresh_token ?? '')
		expect(res.status).toBe(200)
		const renewed = (await res.json()) as TokenBody
		expect((await api(renewed.access_token)).status).toBe(200)
	})

	it('setAccessTtl() applies to tokens issued afterwards', async () => {
		await start()
		server.setAccessTtl(2500)
		expect((await login()).expires_in).toBe(2.5)
	})
})

describe('timeline', () => {
	it('records nothing until setTimeline(true), then each API and refresh request with its status and connection', async () => {
		await start()
		const tokens = await login()
		await api(tokens.access_token)
		expect(server.timeline()).toEqual([])

		const before = Date.now()
		server.setTimeline(true)
		server.expireAccessTokens()
		// Bodies read, so each answer is complete before the timeline is read.
		await (await api(tokens.access_token)).text()
		await (await refresh(tokens.refresh_token ?? '')).text()
		await login()
		const timeline = server.timeline()
		expect(timeline.map(({ kind, status }) => ({ kind, status }))).toEqual([
			{ kind: 'api', status: 401 },
			{ kind: 'refresh', status: 200 },
		])
		for (const entry of timeline) {
			expect(entry.arrivedAt).toBeGreaterThanOrEqual(before)
			expect(entry.finishedAt).toBeGreaterThanOrEqual(entry.arrivedAt)
			expect(entry.clientPort).toBeGreaterThan(0)
		}

		server.setTimeline(true)
		expect(server.timeline()).toEqual([])
		server.setTimeline(false)
		await api(tokens.access_token)
		expect(server.timeline()).toEqual([])
	})
})

describe('refresh rotation', () => {
	beforeEach(async () => {
		await start()
	})

	it('rotates the refresh token and counts the refresh', async () => {
		const first = await login()
		const res = await refresh(first.refresh_token ?? '')
		expect(res.status).toBe(200)
		expect(res.headers.get('cache-control')).toBe('no-store')
		const second = (await res.json()) as TokenBody
		expect(second.refresh_token).toMatch(/^rt_/)
		expect(second.refresh_token).not.toBe(first.refresh_token)
		expect((await api(second.access_token)).status).toBe(200)
		expect(server.stats()).toMatchObject({ refreshCalls: 1, refreshSuccesses: 1, reuseDetections: 0 })
		expect(server.issuedRefreshTokens()).toEqual([first.refresh_token, second.refresh_token])
	})

	it('accepts a JSON refresh body', async () => {
		const { refresh_token } = await login()
		const res = await postJson('/oauth/token', { grant_type: 'refresh_token', refresh_token })
		expect(res.status).toBe(200)
	})

	it('detects reuse of a rotated refresh token and revokes the whole session', async () => {
		const first = await login()
		const second = (await (await refresh(first.refresh_token ?? '')).json()) as TokenBody

		const reuse = await refresh(first.refresh_token ?? '')
		expect(reuse.status).toBe(400)
		expect(await reuse.json()).toEqual({
			error: 'invalid_grant',
			error_description: 'refresh token reuse detected; session revoked',
		})
		expect(server.stats()).toMatchObject({ reuseDetections: 1, revokedSessions: 1 })

		const afterRevoke = await refresh(second.refresh_token ?? '')
		expect(afterRevoke.status).toBe(400)
		expect(await afterRevoke.json()).toEqual({ error: 'invalid_grant' })
		expect((await api(second.access_token)).status).toBe(401)
		expect(server.stats()).toMatchObject({ refreshCalls: 3, refreshSuccesses: 1, reuseDetections: 1 })
	})

	it('leaves other sessions alone when one is revoked for reuse', async () => {
		const victim = await login()
		const bystander = await login()
		await refresh(victim.refresh_token ?? '')
		await refresh(victim.refresh_token ?? '')
		expect((await api(bystander.access_token)).status).toBe(200)
		expect((await refresh(bystander.refresh_token ?? '')).status).toBe(200)
	})

	it('rejects unknown tokens and other grant types', async () => {
		const unknown = await refresh('rt_unknown')
		expect(unknown.status).toBe(400)
		expect(await unknown.json()).toEqual({ error: 'invalid_grant' })

		const password = await postForm('/oauth/token', { grant_type: 'password', username: 'demo', password: 'demo' })
		expect(password.status).toBe(400)
		expect(await password.json()).toEqual({ error: 'unsupported_grant_type' })
		expect(server.stats().refreshCalls).toBe(1)
	})
})

describe('cookie mode', () => {
	beforeEach(async () => {
		await start()
	})

	it('sets the refresh token as an HttpOnly cookie and rotates it on /auth/refresh', async () => {
		const loginRes = await postJson('/auth/login?mode=cookie', { username: 'demo', password: 'demo' })
		expect(loginRes.status).toBe(200)
		const loginBody = (await loginRes.json()) as TokenBody
		expect(loginBody.refresh_token).toBeUndefined()
		expect(loginRes.headers.get('set-cookie')).toMatch(/^rt=rt_[\w-]+; HttpOnly; SameSite=Strict; Path=\/auth$/)
		const firstCookie = rtCookie(loginRes) ?? ''

		const refreshRes = await fetch(`${server.url}/auth/refresh`, { method: 'POST', headers: { cookie: `rt=${firstCookie}` } })
		expect(refreshRes.status).toBe(200)
		const refreshBody = (await refreshRes.json()) as TokenBody
		expect(refreshBody.refresh_token).toBeUndefined()
		expect((await api(refreshBody.access_token)).status).toBe(200)
		const secondCookie = rtCookie(refreshRes)
		expect(secondCookie).toMatch(/^rt_/)
		expect(secondCookie).not.toBe(firstCookie)
		expect(server.stats()).toMatchObject({ refreshCalls: 1, refreshSuccesses: 1 })

		const reuse = await fetch(`${server.url}/auth/refresh`, { method: 'POST', headers: { cookie: `rt=${firstCookie}` } })
		expect(reuse.status).toBe(400)
		expect(server.stats().reuseDetections).toBe(1)
	})

	it('accepts mode=cookie in a form body', async () => {
		const res = await postForm('/auth/login', { username: 'demo', password: 'demo', mode: 'cookie' })
		expect(rtCookie(res)).toMatch(/^rt_/)
	})

	it('answers 401 invalid_grant without a cookie and still counts the call', async () => {
		const res = await fetch(`${server.url}/auth/refresh`, { method: 'POST' })
		expect(res.status).toBe(401)
		expect(await res.json()).toEqual({ error: 'invalid_grant' })
		expect(server.stats().refreshCalls).toBe(1)
	})
})

describe('refresh modes', () => {
	let tokens: TokenBody

	beforeEach(async () => {
		await start()
		tokens = await login()
	})

	async function expectTokenNotConsumed(): Promise<void> {
		server.setRefreshMode('ok')
		expect((await refresh(tokens.refresh_token ?? '')).status).toBe(200)
		expect(server.stats().reuseDetections).toBe(0)
	}

	it('down answers 503 temporarily_unavailable', async () => {
		server.setRefreshMode('down')
		const res = await refresh(tokens.refresh_token ?? '')
		expect(res.status).toBe(503)
		expect(res.headers.get('retry-after')).toBeNull()
		expect(await res.json()).toEqual({ error: 'temporarily_unavailable' })
		expect(server.stats()).toMatchObject({ refreshCalls: 1, refreshSuccesses: 0 })
		await expectTokenNotConsumed()
	})

	it('down and busy send the Retry-After set with setRetryAfter(), exposed to other origins', async () => {
		server.setRetryAfter(7)
		server.setRefreshMode('down')
		const down = await refresh(tokens.refresh_token ?? '')
		expect(down.status).toBe(503)
		expect(down.headers.get('retry-after')).toBe('7')
		expect(down.headers.get('access-control-expose-headers')).toMatch(/Retry-After/)
		server.setRefreshMode('busy')
		const busy = await refresh(tokens.refresh_token ?? '')
		expect(busy.status).toBe(429)
		expect(busy.headers.get('retry-after')).toBe('7')
		server.setRetryAfter(undefined)
		expect((await refresh(tokens.refresh_token ?? '')).headers.get('retry-after')).toBeNull()
		await expectTokenNotConsumed()
	})

	it('hang holds the call unanswered until the mode changes, then answers it as the new mode says', async () => {
		server.setRefreshMode('hang')
		let answered = false
		const held = refresh(tokens.refresh_token ?? '').then((res) => {
			answered = true
			return res
		})
		await new Promise((resolve) => setTimeout(resolve, 200))
		expect(answered).toBe(false)
		expect(server.stats().refreshCalls).toBe(1)
		server.setRefreshMode('ok')
		expect((await held).status).toBe(200)
		expect(server.stats().refreshSuccesses).toBe(1)
	})

	it('refreshCallTimes() says when each refresh call arrived', async () => {
		const before = Date.now()
		server.setRefreshMode('down')
		await refresh(tokens.refresh_token ?? '')
		await refresh(tokens.refresh_token ?? '')
		const times = server.refreshCallTimes()
		expect(times).toHaveLength(2)
		expect(times[0]).toBeGreaterThanOrEqual(before)
		expect(times[1]).toBeGreaterThanOrEqual(times[0]!)
	})

	it('reject answers 400 invalid_grant', async () => {
		server.setRefreshMode('reject')
		const res = await refresh(tokens.refresh_token ?? '')
		expect(res.status).toBe(400)
		expect(await res.json()).toEqual({ error: 'invalid_grant' })
		await expectTokenNotConsumed()
	})

	it('garbage answers 200 with HTML', async () => {
		server.setRefreshMode('garbage')
		const res = await refresh(tokens.refresh_token ?? '')
		expect(res.status).toBe(200)
		expect(res.headers.get('content-type')).toMatch(/^text\/html/)
		expect(await res.text()).toBe('<html>not json</html>')
		await expectTokenNotConsumed()
	})

	it('drop destroys the connection', async () => {
		server.setRefreshMode('drop')
		await expect(refresh(tokens.refresh_token ?? '')).rejects.toThrow()
		expect(server.stats().refreshCalls).toBe(1)
		await expectTokenNotConsumed()
	})

	it('slow waits before answering normally', async () => {
		server.setRefreshMode('slow', 200)
		const started = Date.now()
		const res = await refresh(tokens.refresh_token ?? '')
		expect(res.status).toBe(200)
		expect(Date.now() - started).toBeGreaterThanOrEqual(150)
		expect(server.stats().refreshSuccesses).toBe(1)
	})

	it('setRefreshDelay() delays every refresh answer', async () => {
		server.setRefreshDelay(200)
		server.setRefreshMode('down')
		const started = Date.now()
		expect((await refresh(tokens.refresh_token ?? '')).status).toBe(503)
		expect(Date.now() - started).toBeGreaterThanOrEqual(150)
	})

	it('applies to cookie refresh too', async () => {
		server.setRefreshMode('down')
		const res = await fetch(`${server.url}/auth/refresh`, { method: 'POST', headers: { cookie: 'rt=whatever' } })
		expect(res.status).toBe(503)
	})
})

describe('revocation and denial', () => {
	beforeEach(async () => {
		await start()
	})

	it('revokeAll() rejects every refresh and access token, but new logins work', async () => {
		const a = await login()
		const b = await login()
		server.revokeAll()
		expect(server.stats().revokedSessions).toBe(2)
		for (const tokens of [a, b]) {
			const res = await refresh(tokens.refresh_token ?? '')
			expect(res.status).toBe(400)
			expect(await res.json()).toEqual({ error: 'invalid_grant' })
			expect((await api(tokens.access_token)).status).toBe(401)
		}
		expect(server.stats().reuseDetections).toBe(0)
		expect((await api((await login()).access_token)).status).toBe(200)
	})

	it('logout revokes the session given by body or cookie and clears the cookie', async () => {
		const a = await login()
		const res = await postForm('/auth/logout', { refresh_token: a.refresh_token ?? '' })
		expect(res.status).toBe(204)
		expect(res.headers.get('set-cookie')).toMatch(/^rt=; Max-Age=0/)
		expect((await api(a.access_token)).status).toBe(401)

		const b = await login()
		const cookieLogout = await fetch(`${server.url}/auth/logout`, { method: 'POST', headers: { cookie: `rt=${b.refresh_token}` } })
		expect(cookieLogout.status).toBe(204)
		expect((await refresh(b.refresh_token ?? '')).status).toBe(400)
		expect(server.stats().revokedSessions).toBe(2)

		expect((await fetch(`${server.url}/auth/logout`, { method: 'POST' })).status).toBe(204)
	})

	it('setApiDeny(true) answers 401 for valid tokens until switched off', async () => {
		const { access_token } = await login()
		server.setApiDeny(true)
		expect((await api(access_token)).status).toBe(401)
		server.setApiDeny(false)
		expect((await api(access_token)).status).toBe(200)
		expect(server.stats()).toMatchObject({ apiCalls: 2, api401: 1 })
	})

	it('?delay= validates the token after the wait', async () => {
		const { access_token } = await login()
		const started = Date.now()
		const pending = api(access_token, '/api/data?delay=200')
		await new Promise((resolve) => setTimeout(resolve, 50))
		expect(server.lastApiHeaders()).toHaveLength(1)
		server.expireAccessTokens()
		const res = await pending
		expect(res.status).toBe(401)
		expect(Date.now() - started).toBeGreaterThanOrEqual(150)
	})
})

describe('CORS', () => {
	beforeEach(async () => {
		await start()
	})

	it('answers preflight for /api and /oauth/token', async () => {
		for (const path of ['/api/data', '/oauth/token']) {
			const res = await fetch(server.url + path, {
				method: 'OPTIONS',
				headers: {
					origin: 'http://127.0.0.1:1',
					'access-control-request-method': 'GET',
					'access-control-request-headers': 'authorization',
				},
			})
			expect(res.status).toBe(204)
			expect(res.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:1')
			expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type, dpop')
			expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST, OPTIONS')
		}
		expect(server.stats().apiCalls).toBe(0)
	})

	it('adds Access-Control-Allow-Origin to /api responses only', async () => {
		const apiRes = await fetch(`${server.url}/api/data`)
		expect(apiRes.headers.get('access-control-allow-origin')).toBe('*')
		const loginRes = await postJson('/auth/login', { username: 'demo', password: 'demo' })
		expect(loginRes.headers.get('access-control-allow-origin')).toBeNull()
	})
})

describe('control endpoints', () => {
	beforeEach(async () => {
		await start()
	})

	it('drive the same switches as the API', async () => {
		const tokens = await login()
		expect(await (await fetch(`${server.url}/__control/stats`)).json()).toMatchObject({ logins: 1 })

		expect((await postJson('/__control/refresh-mode', { mode: 'down' })).status).toBe(200)
		expect((await refresh(tokens.refresh_token ?? '')).status).toBe(503)
		await postJson('/__control/refresh-mode', { mode: 'ok' })

		await postJson('/__control/api-deny', { deny: true })
		expect((await api(tokens.access_token)).status).toBe(401)
		await postJson('/__control/api-deny', { deny: false })

		await fetch(`${server.url}/__control/expire`, { method: 'POST' })
		expect((await api(tokens.access_token)).status).toBe(401)

		await postJson('/__control/access-ttl', { ms: 1500 })
		expect((await login()).expires_in).toBe(1.5)

		await fetch(`${server.url}/__control/revoke`, { method: 'POST' })
		expect((await refresh(tokens.refresh_token ?? '')).status).toBe(400)

		await fetch(`${server.url}/__control/reset-stats`, { method: 'POST' })
		expect(server.stats()).toEqual({
			refreshCalls: 0,
			refreshSuccesses: 0,
			reuseDetections: 0,
			logins: 0,
			apiCalls: 0,
			api401: 0,
			revokedSessions: 0,
		})
	})

	it('accept JSON sent as text/plain and reject invalid values', async () => {
		const plain = await fetch(`${server.url}/__control/refresh-mode`, { method: 'POST', body: '{"mode":"reject"}' })
		expect(plain.status).toBe(200)
		expect((await postJson('/__control/refresh-mode', { mode: 'sideways' })).status).toBe(400)
		expect((await postJson('/__control/access-ttl', { ms: -5 })).status).toBe(400)
		expect((await postJson('/__control/api-deny', { deny: 'maybe' })).status).toBe(400)
	})
})

describe('bad input', () => {
	beforeEach(async () => {
		await start()
	})

	it('answers 400 to a malformed JSON body and keeps serving', async () => {
		const res = await fetch(`${server.url}/auth/login`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: '{"username": "demo",',
		})
		expect(res.status).toBe(400)
		expect(await res.json()).toMatchObject({ error: 'invalid_request' })
		expect((await postJson('/oauth/token', [1, 2])).status).toBe(400)
		await login()
	})

	it('answers 413 to a body over 1 MB', async () => {
		const res = await fetch(`${server.url}/auth/login`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: `{"username":"${'x'.repeat(1024 * 1024)}"}`,
		})
		expect(res.status).toBe(413)
		await login()
	})

	it('answers 404 JSON to unknown routes and 405 to wrong methods', async () => {
		const unknown = await fetch(`${server.url}/nope`)
		expect(unknown.status).toBe(404)
		expect(await unknown.json()).toEqual({ error: 'not_found' })
		expect((await fetch(`${server.url}/auth/login`)).status).toBe(405)
	})
})

describe('static files', () => {
	let dir: string

	beforeEach(async () => {
		dir = await mkdtemp(join(tmpdir(), 'dev-auth-server-'))
		const staticDir = join(dir, 'public')
		await mkdir(staticDir)
		await writeFile(join(dir, 'package.json'), '{"secret":"outside static dir"}')
		await writeFile(join(staticDir, 'index.html'), '<h1>home</h1>')
		await writeFile(join(staticDir, 'login.html'), '<h1>login</h1>')
		await writeFile(join(staticDir, 'sw.js'), 'self.skipWaiting()')
		await writeFile(join(staticDir, 'app.webmanifest'), '{}')
		await start({ staticDir })
	})

	afterEach(async () => {
		await rm(dir, { recursive: true, force: true })
	})

	it('serves index.html for / and .html for extensionless paths', async () => {
		const home = await fetch(`${server.url}/`)
		expect(home.status).toBe(200)
		expect(home.headers.get('content-type')).toBe('text/html; charset=utf-8')
		expect(home.headers.get('cache-control')).toBe('no-cache')
		expect(await home.text()).toBe('<h1>home</h1>')
		expect(await (await fetch(`${server.url}/login`)).text()).toBe('<h1>login</h1>')
		expect((await fetch(`${server.url}/missing`)).status).toBe(404)
	})

	it('serves sw.js with Service-Worker-Allowed and manifests with their type', async () => {
		const sw = await fetch(`${server.url}/sw.js`)
		expect(sw.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
		expect(sw.headers.get('service-worker-allowed')).toBe('/')
		const manifest = await fetch(`${server.url}/app.webmanifest`)
		expect(manifest.headers.get('content-type')).toBe('application/manifest+json')
	})

	it('answers HEAD without a body', async () => {
		const res = await fetch(`${server.url}/login.html`, { method: 'HEAD' })
		expect(res.status).toBe(200)
		expect(await res.text()).toBe('')
	})

	it('never serves files outside the static dir', async () => {
		for (const path of ['/../package.json', '/..%2fpackage.json', '/%2e%2e/package.json', '/%2e%2e%2fpackage.json']) {
			const res = await rawGet(path)
			expect([400, 404]).toContain(res.status)
			expect(res.body).not.toContain('outside static dir')
		}
		expect((await rawGet('/%E0%A4%A')).status).toBe(400)
	})
})

describe('startDevAuthServer', () => {
	it('refuses non-loopback hosts', async () => {
		await expect(startDevAuthServer({ host: '0.0.0.0' })).rejects.toThrow(/loopback/)
		await start()
	})

	it('close() ends pending delayed requests and is idempotent', async () => {
		await start()
		const { access_token } = await login()
		const pending = api(access_token, '/api/data?delay=5000')
		await new Promise((resolve) => setTimeout(resolve, 50))
		await server.close()
		await expect(pending).rejects.toThrow()
	})
})
