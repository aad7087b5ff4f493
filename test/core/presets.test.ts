import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { BrokerTimeoutError } from '../../src/core/errors/broker-timeout-error.js'
import { LoggedOutError } from '../../src/core/errors/logged-out-error.js'
import { LoginFailedError } from '../../src/core/errors/login-failed-error.js'
import { ProtocolError } from '../../src/core/errors/protocol-error.js'
import { RefreshRejectedError } from '../../src/core/errors/refresh-rejected-error.js'
import { RefreshUnavailableError } from '../../src/core/errors/refresh-unavailable-error.js'
import { deserializeError, serializeError } from '../../src/core/errors/serialize.js'
import { TokenBrokerError } from '../../src/core/errors/token-broker-error.js'
import { defaultExchangeUrls, exchangeWith } from '../../src/core/exchange.js'
import { cookieRefresh, oauth2Refresh } from '../../src/core/presets.js'
import { envelope } from '../../src/core/protocol.js'
import { readBrokerMessage } from '../../src/transports/broker-message.js'
import { MAX_RETRY_AFTER_MS, asTransient, backoffMs, classifyTokenFailure, configurationProblem, isDefinitive } from '../../src/core/refresh-policy.js'
import { readTokenResponse, retryAfterMs } from '../../src/core/token-response.js'
import { holdTokens, jwtExpiry } from '../../src/core/tokens.js'
import { jwt } from './helpers.js'

const TOKEN_ENDPOINT = 'https://idp.test/oauth/token'

type FetchMock = ReturnType<typeof vi.fn<(input: string | URL | Request, init?: RequestInit) => Promise<Response>>>
let fetchMock: FetchMock

function json(status: number, body: unknown): Response {
	return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

function answer(response: () => Response): void {
	fetchMock.mockImplementation(async () => response())
}

function lastInit(): RequestInit {
	const call = fetchMock.mock.calls.at(-1)
	if (call === undefined) throw new Error('fetch was not called')
	return call[1] ?? {}
}

function formOf(init: RequestInit): Record<string, string> {
	expect(init.body).toBeInstanceOf(URLSearchParams)
	return Object.fromEntries(new URLSearchParams(init.body as URLSearchParams))
}

function headersOf(init: RequestInit): Headers {
	return new Headers(init.headers)
}

beforeEach(() => {
	fetchMock = vi.fn<(input: string | URL | Request, init?: RequestInit) => Promise<Response>>()
	vi.stubGlobal('fetch', fetchMock)
})

afterEach(() => {
	vi.unstubAllGlobals()
})

const signal = () => new AbortController().signal

describe('oauth2Refresh', () => {
	it('POSTs an RFC 6749 §6 form with grant_type, refresh_token, client_id and scope, without credentials', async () => {
		answer(() => json(200, { access_token: 'A2', token_type: 'Bearer', expires_in: 300 }))
		const s = signal()
		const refresh = oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa', scope: 'openid offline_access' })
		await refresh({ refreshToken: 'R1', signal: s })
		expect(fetchMock).toHaveBeenCalledTimes(1)
		expect(String(fetchMock.mock.calls[0]![0])).toBe(TOKEN_ENDPOINT)
		const init = lastInit()
		expect(init.method).toBe('POST')
		expect(init.credentials).toBe('omit')
		expect(init.signal).toBe(s)
		expect(headersOf(init).get('content-type')).toBe('application/x-www-form-urlencoded')
		expect(formOf(init)).toEqual({ grant_type: 'refresh_token', refresh_token: 'R1', client_id: 'spa', scope: 'openid offline_access' })
	})

	it('sends no scope parameter when none is configured', async () => {
		answer(() => json(200, { access_token: 'A2' }))
		await oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' })({ refreshToken: 'R1', signal: signal() })
		expect(formOf(lastInit())).toEqual({ grant_type: 'refresh_token', refresh_token: 'R1', client_id: 'spa' })
	})

	it('returns the rotated refresh token and expiresIn', async () => {
		answer(() => json(200, { access_token: 'A2', refresh_token: 'R2', expires_in: 300, token_type: 'Bearer' }))
		const tokens = await oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' })({ refreshToken: 'R1', signal: signal() })
		expect(tokens).toEqual({ accessToken: 'A2', refreshToken: 'R2', expiresIn: 300 })
	})

	it('returns no refresh token when the server did not rotate it (the broker keeps the old one)', async () => {
		answer(() => json(200, { access_token: 'A2', expires_in: '60' }))
		const tokens = await oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' })({ refreshToken: 'R1', signal: signal() })
		expect(tokens).toEqual({ accessToken: 'A2', expiresIn: 60 })
		expect('refreshToken' in tokens).toBe(false)
	})

	it('accepts camelCase bodies', async () => {
		answer(() => json(200, { accessToken: 'A2', refreshToken: 'R2', expiresIn: 120 }))
		const tokens = await oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' })({ refreshToken: 'R1', signal: signal() })
		expect(tokens).toEqual({ accessToken: 'A2', refreshToken: 'R2', expiresIn: 120 })
	})

	it('drops a nonsensical expires_in', async () => {
		for (const expires of [0, -5, 'soon', null]) {
			answer(() => json(200, { access_token: 'A2', expires_in: expires }))
			const tokens = await oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' })({ refreshToken: 'R1', signal: signal() })
			expect(tokens).toEqual({ accessToken: 'A2' })
		}
	})

	it.each([
		['400 invalid_grant', () => json(400, { error: 'invalid_grant', error_description: 'reused' }), 400],
		['401 with an OAuth error', () => json(401, { error: 'invalid_client' }), 401],
		['401 without a body', () => new Response(null, { status: 401 }), 401],
		['401 with HTML', () => new Response('<h1>nope</h1>', { status: 401, headers: { 'content-type': 'text/html' } }), 401],
	])('%s → RefreshRejectedError (the session is over)', async (_label, response, status) => {
		answer(response)
		const error = await oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' })({ refreshToken: 'R1', signal: signal() }).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(RefreshRejectedError)
		expect((error as RefreshRejectedError).reason).toBe('refresh-rejected')
		expect((error as RefreshRejectedError).status).toBe(status)
		expect(isDefinitive(error)).toBe(true)
	})

	it.each([
		['400 invalid_scope', () => json(400, { error: 'invalid_scope' })],
		['400 without a body', () => new Response('', { status: 400 })],
		['403', () => json(403, { error: 'forbidden' })],
		['429', () => json(429, { error: 'slow_down' })],
		['500', () => new Response('Internal Server Error', { status: 500 })],
		['502 with invalid_grant in the body', () => json(502, { error: 'invalid_grant' })],
		['503', () => json(503, { error: 'temporarily_unavailable' })],
		['200 that is not JSON', () => new Response('<html>captive portal</html>', { status: 200, headers: { 'content-type': 'text/html' } })],
		['200 with an empty body', () => new Response('', { status: 200 })],
		['200 JSON without access_token', () => json(200, { token_type: 'Bearer', expires_in: 300 })],
		['200 JSON with an empty access_token', () => json(200, { access_token: '' })],
		['200 JSON array', () => json(200, [{ access_token: 'A2' }])],
		['200 JSON null', () => json(200, null)],
	])('%s → RefreshUnavailableError (transient)', async (_label, response) => {
		answer(response)
		const error = await oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' })({ refreshToken: 'R1', signal: signal() }).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(RefreshUnavailableError)
		expect(isDefinitive(error)).toBe(false)
	})

	it('a network failure is not definitive', async () => {
		fetchMock.mockRejectedValue(new TypeError('Failed to fetch'))
		const error = await oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' })({ refreshToken: 'R1', signal: signal() }).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(Error)
		expect(isDefinitive(error)).toBe(false)
		expect(asTransient(error)).toBeInstanceOf(RefreshUnavailableError)
		expect(asTransient(error).cause).toBe(error)
	})

	it("without a refresh token → RefreshRejectedError 'no-refresh-credentials', and no request", async () => {
		const error = await oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' })({ signal: signal() }).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(RefreshRejectedError)
		expect((error as RefreshRejectedError).reason).toBe('no-refresh-credentials')
		expect(fetchMock).not.toHaveBeenCalled()
	})

	it('names its token endpoint, for the default exchange rule', () => {
		expect(oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' }).tokenEndpoint).toBe(TOKEN_ENDPOINT)
	})
})

describe('cookieRefresh', () => {
	it("POSTs with credentials: 'include' and sends no refresh token of its own", async () => {
		answer(() => json(200, { access_token: 'A2', expires_in: 60 }))
		const s = signal()
		const tokens = await cookieRefresh({ url: '/auth/refresh' })({ refreshToken: 'should-not-be-sent', signal: s })
		expect(tokens).toEqual({ accessToken: 'A2', expiresIn: 60 })
		expect(String(fetchMock.mock.calls[0]![0])).toBe('/auth/refresh')
		const init = lastInit()
		expect(init.method).toBe('POST')
		expect(init.credentials).toBe('include')
		expect(init.signal).toBe(s)
		expect(init.body ?? null).toBeNull()
		expect(JSON.stringify(fetchMock.mock.calls)).not.toContain('should-not-be-sent')
	})

	it('can use GET', async () => {
		answer(() => json(200, { accessToken: 'A2' }))
		await cookieRefresh({ url: '/auth/refresh', method: 'GET' })({ signal: signal() })
		expect(lastInit().method).toBe('GET')
	})

	it('reads camelCase { accessToken, expiresIn }', async () => {
		answer(() => json(200, { accessToken: 'A2', expiresIn: 30 }))
		expect(await cookieRefresh({ url: '/auth/refresh' })({ signal: signal() })).toEqual({ accessToken: 'A2', expiresIn: 30 })
	})

	it('classifies 401 as definitive and 503 as transient', async () => {
		answer(() => new Response(null, { status: 401 }))
		await expect(cookieRefresh({ url: '/auth/refresh' })({ signal: signal() })).rejects.toBeInstanceOf(RefreshRejectedError)
		answer(() => new Response(null, { status: 503 }))
		await expect(cookieRefresh({ url: '/auth/refresh' })({ signal: signal() })).rejects.toBeInstanceOf(RefreshUnavailableError)
	})
})

describe('server logout of the presets', () => {
	it('oauth2Refresh revokes the refresh token (RFC 7009) with keepalive, so a navigation does not cancel it', async () => {
		answer(() => new Response(null, { status: 200 }))
		const refresh = oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa', revocationEndpoint: 'https://idp.test/oauth/revoke' })
		const s = signal()
		await refresh.logout!({ refreshToken: 'R1', signal: s })
		expect(String(fetchMock.mock.calls[0]![0])).toBe('https://idp.test/oauth/revoke')
		const init = lastInit()
		expect(init).toMatchObject({ method: 'POST', keepalive: true, credentials: 'omit', signal: s })
		expect(formOf(init)).toEqual({ token: 'R1', token_type_hint: 'refresh_token', client_id: 'spa' })
	})

	it('cookieRefresh posts to logoutUrl with the cookie and keepalive; a failed answer rejects', async () => {
		answer(() => new Response(null, { status: 204 }))
		const refresh = cookieRefresh({ url: '/auth/refresh', logoutUrl: '/auth/logout' })
		await refresh.logout!({ signal: signal() })
		expect(lastInit()).toMatchObject({ method: 'POST', keepalive: true, credentials: 'include' })
		answer(() => new Response(null, { status: 500 }))
		await expect(refresh.logout!({ signal: signal() })).rejects.toThrow(/500/)
	})
})

describe('readTokenResponse: the table "When the session ends" (docs/lifetimes-and-engines.md)', () => {
	const ends = 'session ends'
	const transient = 'transient'
	// One row per line of that table: status, OAuth error (undefined: none, or a body that is not JSON), outcome.
	it.each([
		[401, undefined, ends],
		[401, 'invalid_token', ends],
		[401, 'invalid_client', ends],
		[400, 'invalid_grant', ends],
		[403, 'invalid_grant', ends],
		[404, 'invalid_grant', ends],
		[400, 'invalid_client', ends],
		[403, 'unauthorized_client', ends],
		[400, 'unauthorized_client', ends],
		[400, 'invalid_request', ends],
		[400, 'interaction_required', ends],
		[400, 'login_required', ends],
		[400, 'consent_required', ends],
		[400, undefined, transient],
		[400, 'invalid_scope', transient],
		[403, undefined, transient],
		[404, undefined, transient],
		[408, undefined, transient],
		[429, undefined, transient],
		[429, 'slow_down', transient],
		[500, 'invalid_grant', transient],
		[502, undefined, transient],
		[503, 'invalid_client', transient],
		[504, undefined, transient],
	] as const)('%i %s → %s', async (status, oauthError, outcome) => {
		const response = oauthError === undefined ? new Response('<html>error</html>', { status }) : json(status, { error: oauthError })
		const error = await readTokenResponse(response).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(outcome === ends ? RefreshRejectedError : RefreshUnavailableError)
		expect((error as RefreshRejectedError | RefreshUnavailableError).status).toBe(status)
		if (outcome === ends) {
			expect((error as RefreshRejectedError).reason).toBe('refresh-rejected')
			expect((error as RefreshRejectedError).oauthError).toBe(oauthError)
		}
	})

	it('a 2xx that is not JSON, or has no access token, is transient; one with a token is the token set', async () => {
		await expect(readTokenResponse(new Response('<html>portal</html>', { status: 200 }))).rejects.toBeInstanceOf(RefreshUnavailableError)
		await expect(readTokenResponse(json(200, { token_type: 'Bearer' }))).rejects.toBeInstanceOf(RefreshUnavailableError)
		await expect(readTokenResponse(json(200, { access_token: 'a' }))).resolves.toEqual({ accessToken: 'a' })
	})

	it('a network error of the preset is transient (the fetch rejection reaches the core, which keeps the session)', async () => {
		fetchMock.mockRejectedValue(new TypeError('Failed to fetch'))
		const error = await oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' })({ refreshToken: 'R1', signal: signal() }).catch((e: unknown) => e)
		expect(isDefinitive(error)).toBe(false)
		expect(asTransient(error)).toBeInstanceOf(RefreshUnavailableError)
	})

	it('names the configuration problem in the message of invalid_client and unauthorized_client, and only there', async () => {
		const invalidClient = await readTokenResponse(json(400, { error: 'invalid_client' })).then(
			() => new Error('resolved'),
			(e: unknown) => e as Error,
		)
		expect(invalidClient.message).toMatch(/clientId/)
		const unauthorized = await readTokenResponse(json(400, { error: 'unauthorized_client' })).then(
			() => new Error('resolved'),
			(e: unknown) => e as Error,
		)
		expect(unauthorized.message).toMatch(/refresh tokens for it/)
		const malformed = await readTokenResponse(json(400, { error: 'invalid_request' })).then(
			() => new Error('resolved'),
			(e: unknown) => e as Error,
		)
		expect(malformed.message).toMatch(/type "spa"/)
		expect(configurationProblem('interaction_required')).toBeUndefined()
		expect(configurationProblem('invalid_grant')).toBeUndefined()
		expect(configurationProblem('toString')).toBeUndefined()
		expect(configurationProblem(undefined)).toBeUndefined()
		expect(classifyTokenFailure(400, 'constructor')).toBe('transient')
	})
})

describe('Retry-After', () => {
	const NOW = Date.parse('2026-11-30T12:00:00Z')
	const withRetryAfter = (status: number, value: string, date?: string) => new Response(null, { status, headers: { 'retry-after': value, ...(date === undefined ? {} : { date }) } })

	it('reads seconds on 429 and 503', () => {
		expect(retryAfterMs(withRetryAfter(429, '7'), NOW)).toBe(7_000)
		expect(retryAfterMs(withRetryAfter(503, ' 120 '), NOW)).toBe(120_000)
		expect(retryAfterMs(withRetryAfter(503, '0'), NOW)).toBe(0)
	})

	it("reads an HTTP date against the answer's Date header, so a wrong client clock does not change the wait", () => {
		const serverNow = 'Mon, 30 Nov 2026 12:10:00 GMT'
		// The client clock is 10 minutes behind the server's: the wait is still 30 s.
		expect(retryAfterMs(withRetryAfter(503, 'Mon, 30 Nov 2026 12:10:30 GMT', serverNow), NOW)).toBe(30_000)
		// Without a Date header, against the local clock; a date in the past means no wait.
		expect(retryAfterMs(withRetryAfter(429, 'Mon, 30 Nov 2026 12:00:05 GMT'), NOW)).toBe(5_000)
		expect(retryAfterMs(withRetryAfter(429, 'Mon, 30 Nov 2026 11:00:00 GMT'), NOW)).toBe(0)
	})

	it('is ignored on other statuses and when it is not a number or a date', () => {
		expect(retryAfterMs(withRetryAfter(500, '7'), NOW)).toBeUndefined()
		expect(retryAfterMs(withRetryAfter(400, '7'), NOW)).toBeUndefined()
		expect(retryAfterMs(withRetryAfter(503, 'soon'), NOW)).toBeUndefined()
		expect(retryAfterMs(withRetryAfter(503, '-5'), NOW)).toBeUndefined()
		expect(retryAfterMs(new Response(null, { status: 503 }), NOW)).toBeUndefined()
	})

	it('is carried on the RefreshUnavailableError the presets throw', async () => {
		answer(() => new Response(JSON.stringify({ error: 'temporarily_unavailable' }), { status: 503, headers: { 'retry-after': '12' } }))
		const error = await oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' })({ refreshToken: 'R1', signal: signal() }).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(RefreshUnavailableError)
		expect((error as RefreshUnavailableError).retryAfterMs).toBe(12_000)
		answer(() => new Response(null, { status: 429, headers: { 'retry-after': '3' } }))
		const cookie = await cookieRefresh({ url: '/auth/refresh' })({ signal: signal() }).catch((e: unknown) => e)
		expect((cookie as RefreshUnavailableError).retryAfterMs).toBe(3_000)
	})
})

describe('backoffMs', () => {
	it('waits between 2 s and 5 s, spread uniformly by the jitter', () => {
		expect(backoffMs(() => 0)).toBe(2_000)
		expect(backoffMs(() => 0.5)).toBe(3_500)
		expect(backoffMs(() => 1)).toBe(5_000)
	})

	it('waits at least a Retry-After, capped at 60 s', () => {
		expect(backoffMs(() => 1, 1_000)).toBe(5_000)
		expect(backoffMs(() => 0, 12_000)).toBe(12_000)
		expect(backoffMs(() => 0, 120_000)).toBe(60_000)
		expect(MAX_RETRY_AFTER_MS).toBe(60_000)
	})
})

describe('tokens', () => {
	it('jwtExpiry reads exp in ms from a base64url payload, and undefined from opaque or broken tokens', () => {
		// A payload whose base64 has "-" and "_" in base64url form.
		const token = jwt({ exp: 2_000_000_000, name: '~~~???>>>' })
		expect(token.split('.')[1]).toMatch(/[-_]/)
		expect(jwtExpiry(token, 0)).toBe(2_000_000_000_000)
		expect(jwtExpiry('opaque-token', 0)).toBeUndefined()
		expect(jwtExpiry('a.%%%.c', 0)).toBeUndefined()
		expect(jwtExpiry(jwt({ exp: 'tomorrow' }), 0)).toBeUndefined()
		expect(jwtExpiry(jwt({ sub: 'x' }), 0)).toBeUndefined()
		expect(jwtExpiry('a.bnVsbA.c', 0)).toBeUndefined()
	})

	it.each([
		['5 minutes fast', 300_000],
		['5 minutes slow', -300_000],
		['right', 0],
	])('with the client clock %s, a JWT with iat expires one lifetime after receipt', (_label, skew) => {
		const serverNow = 1_800_000_000
		const token = jwt({ iat: serverNow, exp: serverNow + 600 })
		const receivedAt = serverNow * 1000 + skew
		const held = holdTokens({ accessToken: token }, receivedAt)
		expect(held.expiresAt).toBe(receivedAt + 600_000)
		expect(held.issuedAt).toBe(receivedAt)
	})

	it('a JWT without iat (or with iat after exp) falls back to exp as it is', () => {
		expect(jwtExpiry(jwt({ exp: 1_800_000_600 }), 5)).toBe(1_800_000_600_000)
		expect(jwtExpiry(jwt({ iat: 1_800_000_700, exp: 1_800_000_600 }), 5)).toBe(1_800_000_600_000)
	})

	it('expires_in counts from receipt and wins over the JWT; an explicit expiresAt is kept as given', () => {
		const token = jwt({ iat: 1_800_000_000, exp: 1_800_000_600 })
		expect(holdTokens({ accessToken: token, expiresIn: 60 }, 1_000)).toMatchObject({ expiresAt: 61_000, issuedAt: 1_000 })
		expect(holdTokens({ accessToken: token, expiresAt: 42 }, 1_000)).toMatchObject({ expiresAt: 42, issuedAt: 1_000 })
	})

	it('holdTokens keeps the previous refresh token only when none is given', () => {
		expect(holdTokens({ accessToken: 'a', refreshToken: 'new' }, 10, 'old').refreshToken).toBe('new')
		expect(holdTokens({ accessToken: 'a' }, 10, 'old').refreshToken).toBe('old')
		expect('refreshToken' in holdTokens({ accessToken: 'a' }, 10)).toBe(false)
	})
})

describe('exchangeWith', () => {
	const request = { url: 'https://app.test/oauth/token', body: { grant_type: 'authorization_code', code: 'c', code_verifier: 'v' }, headers: { 'x-requested-with': 'swtb' } }

	it('POSTs the form inside the broker and returns the full token set', async () => {
		answer(() => json(200, { access_token: 'A1', refresh_token: 'R1', expires_in: 60 }))
		const s = signal()
		const tokens = await exchangeWith()(request, s)
		expect(tokens).toEqual({ accessToken: 'A1', refreshToken: 'R1', expiresIn: 60 })
		expect(String(fetchMock.mock.calls[0]![0])).toBe(request.url)
		const init = lastInit()
		expect(init.method).toBe('POST')
		expect(init.signal).toBe(s)
		expect(formOf(init)).toEqual(request.body)
		expect(headersOf(init).get('content-type')).toBe('application/x-www-form-urlencoded')
		expect(headersOf(init).get('x-requested-with')).toBe('swtb')
	})

	it('refused (400 invalid_grant) → LoginFailedError with status 400 and oauthError', async () => {
		answer(() => json(400, { error: 'invalid_grant', error_description: 'code already used' }))
		const error = await exchangeWith()(request, signal()).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(LoginFailedError)
		expect((error as LoginFailedError).status).toBe(400)
		expect((error as LoginFailedError).oauthError).toBe('invalid_grant')
	})

	it('a 500 → LoginFailedError with status 500', async () => {
		answer(() => new Response('oops', { status: 500 }))
		const error = await exchangeWith()(request, signal()).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(LoginFailedError)
		expect((error as LoginFailedError).status).toBe(500)
		expect((error as LoginFailedError).oauthError).toBeUndefined()
	})

	it('a network failure → LoginFailedError with the cause', async () => {
		const failure = new TypeError('Failed to fetch')
		fetchMock.mockRejectedValue(failure)
		const error = await exchangeWith()(request, signal()).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(LoginFailedError)
		expect((error as Error).cause).toBe(failure)
		expect((error as LoginFailedError).status).toBeUndefined()
	})

	it('a 200 without an access token → LoginFailedError', async () => {
		answer(() => json(200, { id_token: 'x' }))
		const error = await exchangeWith()(request, signal()).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(LoginFailedError)
		expect((error as LoginFailedError).status).toBe(200)
	})
})

describe('exchangeWith a JSON login endpoint', () => {
	const request = { url: 'https://app.test/api/login', json: { username: 'ada', password: 'pw' } }

	it('POSTs the JSON and reads an OAuth-shaped or camelCase answer without readTokens', async () => {
		answer(() => json(200, { accessToken: 'A1', refreshToken: 'R1', expiresIn: 60 }))
		expect(await exchangeWith()(request, signal())).toEqual({ accessToken: 'A1', refreshToken: 'R1', expiresIn: 60 })
		const init = lastInit()
		expect(headersOf(init).get('content-type')).toBe('application/json')
		expect(JSON.parse(String(init.body))).toEqual(request.json)
	})

	it('maps any other shape with readTokens', async () => {
		answer(() => json(200, { data: { jwt: 'A2', renew: 'R2', ttl: 300 } }))
		const readTokens = (body: unknown) => {
			const { data } = body as { data: { jwt: string; renew: string; ttl: number } }
			return { accessToken: data.jwt, refreshToken: data.renew, expiresIn: data.ttl }
		}
		expect(await exchangeWith(readTokens)(request, signal())).toEqual({ accessToken: 'A2', refreshToken: 'R2', expiresIn: 300 })
	})

	it('a refused login rejects with LoginFailedError carrying its status', async () => {
		answer(() => json(401, { message: 'wrong password' }))
		const error = await exchangeWith(() => ({ accessToken: 'never' }))(request, signal()).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(LoginFailedError)
		expect((error as LoginFailedError).status).toBe(401)
	})

	it('an answer readTokens cannot read, or reads into no access token, rejects with a LoginFailedError that says so', async () => {
		answer(() => json(200, { data: null }))
		const throwing = await exchangeWith((body) => ({ accessToken: (body as { data: { jwt: string } }).data.jwt }))(request, signal()).catch((e: unknown) => e)
		expect(throwing).toBeInstanceOf(LoginFailedError)
		expect((throwing as Error).message).toMatch(/readTokens could not read it/)
		answer(() => json(200, { data: {} }))
		const empty = await exchangeWith(() => ({ accessToken: '' }))(request, signal()).catch((e: unknown) => e)
		expect(empty).toBeInstanceOf(LoginFailedError)
		expect((empty as Error).message).toMatch(/without an access token in what readTokens returned/)
	})
})

describe('defaultExchangeUrls', () => {
	const allows = defaultExchangeUrls('https://app.test', TOKEN_ENDPOINT)
	const check = (url: string) => allows(new URL(url))

	it('allows its own origin, any path', () => {
		expect(check('https://app.test/login')).toBe(true)
		expect(check('https://app.test/api/session?x=1')).toBe(true)
	})

	it("allows exactly the token endpoint's path on its origin", () => {
		expect(check('https://idp.test/oauth/token')).toBe(true)
		expect(check('https://idp.test/oauth/token?client=1')).toBe(true)
	})

	it('refuses everything else', () => {
		expect(check('https://idp.test/oauth/token2')).toBe(false)
		expect(check('https://idp.test/oauth/tokens/x')).toBe(false)
		expect(check('https://idp.test/oauth')).toBe(false)
		expect(check('https://idp.test/')).toBe(false)
		expect(check('http://idp.test/oauth/token')).toBe(false)
		expect(check('https://idp.test:8443/oauth/token')).toBe(false)
		expect(check('https://evil.test/oauth/token')).toBe(false)
		expect(check('http://app.test/login')).toBe(false)
		expect(check('https://app.test.evil.test/login')).toBe(false)
		expect(check('https://app.test@evil.test/login')).toBe(false)
	})

	it('without a token endpoint allows only its own origin; a relative endpoint is resolved against it', () => {
		const own = defaultExchangeUrls('https://app.test')
		expect(own(new URL('https://app.test/x'))).toBe(true)
		expect(own(new URL('https://idp.test/oauth/token'))).toBe(false)
		const relative = defaultExchangeUrls('https://app.test', '/oauth/token')
		expect(relative(new URL('https://app.test/oauth/token'))).toBe(true)
	})
})

describe('serializeError / deserializeError', () => {
	/** As errors travel: serialized, enveloped, structured-cloned, parsed by the page. */
	function travel(error: unknown): Error {
		const wire = structuredClone(envelope({ type: 'reply', ok: false, error: serializeError(error) }))
		const parsed = readBrokerMessage(wire)
		if (parsed.kind !== 'ok' || parsed.message.type !== 'reply' || parsed.message.ok) throw new Error(`not an error reply: ${JSON.stringify(parsed)}`)
		return deserializeError(parsed.message.error)
	}

	it.each(['refresh-rejected', 'no-refresh-credentials', 'user', 'remote'] as const)('LoggedOutError(%s) keeps class, message and reason', (reason) => {
		const original = new LoggedOutError(reason)
		for (const copy of [deserializeError(serializeError(original)), travel(original)]) {
			expect(copy).toBeInstanceOf(LoggedOutError)
			expect(copy).toBeInstanceOf(TokenBrokerError)
			expect(copy.name).toBe('LoggedOutError')
			expect(copy.message).toBe(original.message)
			expect((copy as LoggedOutError).reason).toBe(reason)
		}
	})

	it('RefreshUnavailableError keeps class, message and retryAt; one without retryAt has none', () => {
		const original = new RefreshUnavailableError('the token endpoint answered 503', { retryAt: 1_800_000_000_000 })
		for (const copy of [deserializeError(serializeError(original)), travel(original)]) {
			expect(copy).toBeInstanceOf(RefreshUnavailableError)
			expect(copy.message).toBe(original.message)
			expect((copy as RefreshUnavailableError).retryAt).toBe(1_800_000_000_000)
		}
		expect((travel(new RefreshUnavailableError('offline')) as RefreshUnavailableError).retryAt).toBeUndefined()
	})

	it('LoginFailedError keeps class, message, status and oauthError', () => {
		const original = new LoginFailedError('The sign-in was refused (400 invalid_grant).', { status: 400, oauthError: 'invalid_grant' })
		for (const copy of [deserializeError(serializeError(original)), travel(original)]) {
			expect(copy).toBeInstanceOf(LoginFailedError)
			expect(copy.message).toBe(original.message)
			expect((copy as LoginFailedError).status).toBe(400)
			expect((copy as LoginFailedError).oauthError).toBe('invalid_grant')
		}
		const bare = travel(new LoginFailedError('not allowed'))
		expect(bare).toBeInstanceOf(LoginFailedError)
		expect((bare as LoginFailedError).status).toBeUndefined()
		expect((bare as LoginFailedError).oauthError).toBeUndefined()
	})

	it.each([
		['RefreshUnavailableError', () => new RefreshUnavailableError('the token endpoint answered 503'), RefreshUnavailableError],
		['ProtocolError', () => new ProtocolError('"type" is missing'), ProtocolError],
	] as const)('%s keeps class and message', (name, make, type) => {
		const original = make()
		for (const copy of [deserializeError(serializeError(original)), travel(original)]) {
			expect(copy).toBeInstanceOf(type)
			expect(copy.name).toBe(name)
			expect(copy.message).toBe(original.message)
		}
	})

	it('other errors keep name and message; non-errors become Error', () => {
		// The page's own wait gives BrokerTimeoutError; none ever comes from the broker, so none is rebuilt.
		const timeout = travel(new BrokerTimeoutError('refresh', 15_000))
		expect(timeout).not.toBeInstanceOf(TokenBrokerError)
		expect(timeout.name).toBe('BrokerTimeoutError')
		const copy = travel(new RangeError('boom'))
		expect(copy.name).toBe('RangeError')
		expect(copy.message).toBe('boom')
		expect(copy).not.toBeInstanceOf(TokenBrokerError)
		expect(serializeError('a string')).toEqual({ name: 'Error', message: 'a string' })
		expect(travel('a string').message).toBe('a string')
	})

	it('serialized errors are plain data with no cause or stack', () => {
		const serialized = serializeError(new LoginFailedError('x', { status: 400, oauthError: 'e', cause: new Error('secret detail') }))
		expect(serialized).toEqual({ name: 'LoginFailedError', message: 'x', status: 400, oauthError: 'e' })
	})
})

describe('no redirects on token-endpoint and exchange requests', () => {
	const ATTACKER = 'https://attacker.test/collect'

	/** A browser's answer to redirect: 'manual' (status 0, type 'opaqueredirect'), which Response cannot be built as. */
	function opaqueRedirect(): Response {
		return Object.defineProperty(Response.error(), 'type', { value: 'opaqueredirect' })
	}

	/**
	 * fetch as a browser runs it against endpoints behind an open redirect (307, so method and body
	 * go along): followed unless the request says otherwise, into an attacker's hands.
	 */
	function behindOpenRedirect(manual: () => Response) {
		const stolen: RequestInit[] = []
		fetchMock.mockImplementation(async (input, init = {}) => {
			if (String(input) === ATTACKER) {
				stolen.push(init)
				return json(200, { access_token: 'ATTACKER-A', refresh_token: 'ATTACKER-R', expires_in: 3600 })
			}
			if (init.redirect === 'error') throw new TypeError('Failed to fetch')
			if (init.redirect === 'manual') return manual()
			return fetchMock(ATTACKER, init)
		})
		return stolen
	}

	for (const [shape, manual] of [
		['a browser', opaqueRedirect],
		['Node', () => new Response(null, { status: 307, headers: { location: ATTACKER } })],
	] as const) {
		it(`exchange() does not follow a redirect, sends the code nowhere else and adopts no tokens (${shape})`, async () => {
			const stolen = behindOpenRedirect(manual)
			const error = await exchangeWith()({ url: 'https://app.test/login?next=//attacker.test', body: { code: 'c', code_verifier: 'v', password: 'p' } }, signal()).catch((e: unknown) => e)
			expect(error).toBeInstanceOf(LoginFailedError)
			expect((error as Error).message).toMatch(/redirect/)
			expect(stolen).toEqual([])
		})

		it(`a refresh does not follow a redirect: the refresh token goes nowhere else, and the session is kept (${shape})`, async () => {
			const stolen = behindOpenRedirect(manual)
			for (const refresh of [oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' }), cookieRefresh({ url: '/auth/refresh' })]) {
				const error = await refresh({ refreshToken: 'R1', signal: signal() }).catch((e: unknown) => e)
				expect(error).toBeInstanceOf(RefreshUnavailableError)
				expect((error as Error).message).toMatch(/redirect/)
			}
			expect(stolen).toEqual([])
		})

		it(`a server logout does not follow a redirect with the refresh token (${shape})`, async () => {
			const stolen = behindOpenRedirect(manual)
			const refresh = oauth2Refresh({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa', revocationEndpoint: 'https://idp.test/oauth/revoke' })
			await expect(refresh.logout!({ refreshToken: 'R1', signal: signal() })).rejects.toThrow(/redirect/)
			await expect(cookieRefresh({ url: '/auth/refresh', logoutUrl: '/auth/logout' }).logout!({ signal: signal() })).rejects.toThrow(/redirect/)
			expect(stolen).toEqual([])
		})
	}
})

describe('errors reach the page whole (issue 17)', () => {
	function travel(error: unknown): Error {
		const parsed = readBrokerMessage(structuredClone(envelope({ type: 'reply', ok: false, error: serializeError(error) })))
		if (parsed.kind !== 'ok' || parsed.message.type !== 'reply' || parsed.message.ok) throw new Error('not an error reply')
		return deserializeError(parsed.message.error)
	}

	it("RefreshUnavailableError's status and retryAfterMs reach the page, with its detail and retryAt", () => {
		const original = new RefreshUnavailableError('the token endpoint answered 503', { status: 503, retryAfterMs: 30_000, retryAt: 1_800_000_000_000 })
		const copy = travel(original) as RefreshUnavailableError
		expect(copy).toBeInstanceOf(RefreshUnavailableError)
		expect({ status: copy.status, retryAfterMs: copy.retryAfterMs, retryAt: copy.retryAt, detail: copy.detail, message: copy.message }).toEqual({
			status: 503,
			retryAfterMs: 30_000,
			retryAt: 1_800_000_000_000,
			detail: 'the token endpoint answered 503',
			message: original.message,
		})
	})

	it('each class is built by its own constructor: it gets only its own fields, whatever else the answer carries', () => {
		const loggedOut = deserializeError({ name: 'LoggedOutError', message: 'The session is over (user).', reason: 'user', generation: 7, status: 500, oauthError: 'x', retryAt: 1 })
		expect(loggedOut).toBeInstanceOf(LoggedOutError)
		expect({ ...loggedOut }).toEqual({ ...new LoggedOutError('user', { generation: 7 }) })
		const login = deserializeError({ name: 'LoginFailedError', message: 'refused', status: 400, reason: 'user', retryAt: 1 })
		expect({ ...login }).toEqual({ ...new LoginFailedError('refused', { status: 400 }) })
		const protocol = travel(new ProtocolError('"type" is missing'))
		expect({ ...protocol }).toEqual({ ...new ProtocolError('"type" is missing') })
	})
})
