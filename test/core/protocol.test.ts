import { afterEach, describe, expect, it } from 'vitest'
import { ProtocolError } from '../../src/core/errors/protocol-error.js'
import { parseRequest } from '../../src/core/parse-message.js'
import { type BrokerBroadcast, type BrokerReply, type BrokerRequest, PROTOCOL_VERSION, envelope } from '../../src/core/protocol.js'
import { readBrokerMessage } from '../../src/transports/broker-message.js'

const BIG = 16_384

const validRequests: Array<[string, BrokerRequest]> = [
	['hello', { type: 'hello' }],
	['ping', { type: 'ping' }],
	['refresh with a token', { type: 'refresh', failedToken: 'access-1' }],
	['refresh with null', { type: 'refresh', failedToken: null }],
	['refresh with a time limit', { type: 'refresh', failedToken: 'access-1', waitMs: 14_000 }],
	['refresh with the longest time limit', { type: 'refresh', failedToken: null, waitMs: 60_000 }],
	['refresh with no time at all', { type: 'refresh', failedToken: null, waitMs: 0 }],
	['resume', { type: 'resume' }],
	['login, access token only', { type: 'login', tokens: { accessToken: 'a' } }],
	['login, full', { type: 'login', tokens: { accessToken: 'a', refreshToken: 'r', expiresAt: 1_700_000_000_000, expiresIn: 3600 } }],
	['exchange', { type: 'exchange', request: { url: '/oauth/token', body: { grant_type: 'authorization_code', code: 'xyz' } } }],
	['exchange with headers', { type: 'exchange', request: { url: 'https://idp.test/token', body: {}, headers: { 'x-csrf': '1' } } }],
	['logout', { type: 'logout', tab: 'abc123' }],
	['seed', { type: 'seed', accessToken: 'a', generation: 12 }],
	['seed with expiry', { type: 'seed', accessToken: 'a', expiresAt: 99, generation: 12 }],
	["refresh with the tab's generation", { type: 'refresh', failedToken: 'access-1', waitMs: 14_000, generation: 1_700_000_000_001 }],
	['seed with expiry and receipt time', { type: 'seed', accessToken: 'a', expiresAt: 99, issuedAt: 39, generation: 12 }],
]

const validBrokerMessages: Array<[string, BrokerReply | BrokerBroadcast]> = [
	['reply ok with token', { type: 'reply', ok: true, snapshot: { accessToken: 'a', expiresAt: 10, issuedAt: 5, generation: 7 } }],
	['reply ok logged out', { type: 'reply', ok: true, snapshot: { accessToken: null, generation: 8 } }],
	['reply error', { type: 'reply', ok: false, error: { name: 'RefreshUnavailableError', message: 'offline' } }],
	['reply error with retryAt', { type: 'reply', ok: false, error: { name: 'RefreshUnavailableError', message: 'down', retryAt: 1_800_000_000_000 } }],
	['reply error, full', { type: 'reply', ok: false, error: { name: 'LoginFailedError', message: 'no', status: 400, oauthError: 'invalid_grant' } }],
	['reply logged out', { type: 'reply', ok: false, error: { name: 'LoggedOutError', message: 'over', reason: 'no-refresh-credentials' } }],
	['token broadcast', { type: 'token', snapshot: { accessToken: 'a', expiresAt: 10, generation: 7 } }],
	['logout broadcast', { type: 'logout', reason: 'refresh-rejected', generation: 9 }],
	['logout broadcast from a tab', { type: 'logout', reason: 'user', generation: 9, tab: 'abc' }],
	['seed request', { type: 'seed-request' }],
]

function expectInvalid(result: ReturnType<typeof parseRequest> | ReturnType<typeof readBrokerMessage>): void {
	expect(result.kind).toBe('invalid')
	if (result.kind === 'invalid') {
		expect(result.error).toBeInstanceOf(ProtocolError)
		expect(result.error.name).toBe('ProtocolError')
	}
}

afterEach(() => {
	// Whatever a test did, nothing may have leaked onto Object.prototype.
	expect(({} as Record<string, unknown>).polluted).toBeUndefined()
	expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false)
})

describe('envelope', () => {
	it('stamps the protocol version', () => {
		expect(PROTOCOL_VERSION).toBe(1)
		expect(envelope({ type: 'hello' })).toEqual({ swtb: 1, type: 'hello' })
	})
})

describe('parseRequest: valid messages', () => {
	it.each(validRequests)('%s round-trips', (_label, message) => {
		expect(parseRequest(envelope(message))).toStrictEqual({ kind: 'ok', message })
		// The same after structured clone and after JSON, as messages really travel.
		expect(parseRequest(structuredClone(envelope(message)))).toStrictEqual({ kind: 'ok', message })
		expect(parseRequest(JSON.parse(JSON.stringify(envelope(message))))).toStrictEqual({ kind: 'ok', message })
	})

	it('copies only known fields (extra fields are dropped)', () => {
		const parsed = parseRequest({ swtb: 1, type: 'login', tokens: { accessToken: 'a', extra: 'x' }, other: 1 })
		expect(parsed).toStrictEqual({ kind: 'ok', message: { type: 'login', tokens: { accessToken: 'a' } } })
	})

	it('accepts strings and field counts right at the limits', () => {
		const token = 'x'.repeat(BIG)
		expect(parseRequest(envelope({ type: 'refresh', failedToken: token })).kind).toBe('ok')
		const body = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`f${i}`, 'v']))
		expect(parseRequest(envelope({ type: 'exchange', request: { url: '/t', body } })).kind).toBe('ok')
		expect(parseRequest(envelope({ type: 'exchange', request: { url: `/${'u'.repeat(4095)}`, body: {} } })).kind).toBe('ok')
		expect(parseRequest(envelope({ type: 'logout', tab: 't'.repeat(64) })).kind).toBe('ok')
	})
})

describe('readBrokerMessage (the page reading its own worker): valid messages', () => {
	it.each(validBrokerMessages)('%s is read as it came', (_label, message) => {
		expect(readBrokerMessage(envelope(message))).toStrictEqual({ kind: 'ok', message: envelope(message) })
	})
})

describe('messages that are not of the protocol are ignored', () => {
	const foreign: Array<[string, unknown]> = [
		['null', null],
		['undefined', undefined],
		['a string', 'hello'],
		['a protocol-looking string', JSON.stringify({ swtb: 1, type: 'hello' })],
		['a number', 42],
		['a boolean', true],
		['an array', [1, 2]],
		['an array holding a message', [{ swtb: 1, type: 'hello' }]],
		['an empty object', {}],
		['an object without swtb', { type: 'refresh', failedToken: 'a' }],
		['a workbox message', { type: 'SKIP_WAITING' }],
		['swtb explicitly undefined', { swtb: undefined, type: 'hello' }],
	]
	it.each(foreign)('%s', (_label, data) => {
		expect(parseRequest(data)).toEqual({ kind: 'ignore' })
		expect(readBrokerMessage(data)).toEqual({ kind: 'ignore' })
	})
})

describe('parseRequest: malformed protocol messages are invalid', () => {
	const invalid: Array<[string, unknown]> = [
		['wrong version 2', { swtb: 2, type: 'hello' }],
		['version as a string', { swtb: '1', type: 'hello' }],
		['version null', { swtb: null, type: 'hello' }],
		['version as an object', { swtb: {}, type: 'hello' }],
		['missing type', { swtb: 1 }],
		['type not a string', { swtb: 1, type: 7 }],
		['unknown type', { swtb: 1, type: 'steal' }],
		['type __proto__', { swtb: 1, type: '__proto__' }],
		['a broker message sent as a request', { swtb: 1, type: 'token', snapshot: { accessToken: 'a', generation: 1 } }],
		['refresh without failedToken', { swtb: 1, type: 'refresh' }],
		['refresh with a number', { swtb: 1, type: 'refresh', failedToken: 5 }],
		['refresh with an empty token', { swtb: 1, type: 'refresh', failedToken: '' }],
		['refresh with a huge token', { swtb: 1, type: 'refresh', failedToken: 'x'.repeat(BIG + 1) }],
		['refresh with a negative time limit', { swtb: 1, type: 'refresh', failedToken: null, waitMs: -1 }],
		['refresh with a time limit over 60 s', { swtb: 1, type: 'refresh', failedToken: null, waitMs: 60_001 }],
		['refresh with an infinite time limit', { swtb: 1, type: 'refresh', failedToken: null, waitMs: Number.POSITIVE_INFINITY }],
		['refresh with a time limit as a string', { swtb: 1, type: 'refresh', failedToken: null, waitMs: '5000' }],
		['login without tokens', { swtb: 1, type: 'login' }],
		['login with tokens as a string', { swtb: 1, type: 'login', tokens: 'a' }],
		['login with tokens as an array', { swtb: 1, type: 'login', tokens: ['a'] }],
		['login without accessToken', { swtb: 1, type: 'login', tokens: { refreshToken: 'r' } }],
		['login with an empty accessToken', { swtb: 1, type: 'login', tokens: { accessToken: '' } }],
		['login with a huge accessToken', { swtb: 1, type: 'login', tokens: { accessToken: 'x'.repeat(BIG + 1) } }],
		['login with a huge refreshToken', { swtb: 1, type: 'login', tokens: { accessToken: 'a', refreshToken: 'x'.repeat(BIG + 1) } }],
		['login with a refreshToken number', { swtb: 1, type: 'login', tokens: { accessToken: 'a', refreshToken: 1 } }],
		['login with a refreshToken null', { swtb: 1, type: 'login', tokens: { accessToken: 'a', refreshToken: null } }],
		['login with expiresIn a string', { swtb: 1, type: 'login', tokens: { accessToken: 'a', expiresIn: '3600' } }],
		['login with expiresAt NaN', { swtb: 1, type: 'login', tokens: { accessToken: 'a', expiresAt: Number.NaN } }],
		['login with expiresAt Infinity', { swtb: 1, type: 'login', tokens: { accessToken: 'a', expiresAt: Number.POSITIVE_INFINITY } }],
		['exchange without request', { swtb: 1, type: 'exchange' }],
		['exchange with request as a string', { swtb: 1, type: 'exchange', request: '/token' }],
		['exchange without url', { swtb: 1, type: 'exchange', request: { body: {} } }],
		['exchange with a huge url', { swtb: 1, type: 'exchange', request: { url: `/${'u'.repeat(4096)}`, body: {} } }],
		['exchange whose body is not a map of strings', { swtb: 1, type: 'exchange', request: { url: '/t', body: 'code=1' } }],
		['exchange with body as an array', { swtb: 1, type: 'exchange', request: { url: '/t', body: [['a', 'b']] } }],
		['exchange with body as a string', { swtb: 1, type: 'exchange', request: { url: '/t', body: 'a=b' } }],
		['exchange with a number in the body', { swtb: 1, type: 'exchange', request: { url: '/t', body: { a: 1 } } }],
		['exchange with an object in the body', { swtb: 1, type: 'exchange', request: { url: '/t', body: { a: { b: 'c' } } } }],
		['exchange with a huge body value', { swtb: 1, type: 'exchange', request: { url: '/t', body: { code: 'x'.repeat(BIG + 1) } } }],
		['exchange with a huge body field name', { swtb: 1, type: 'exchange', request: { url: '/t', body: { ['k'.repeat(257)]: 'v' } } }],
		['exchange with too many body fields', { swtb: 1, type: 'exchange', request: { url: '/t', body: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`f${i}`, 'v'])) } }],
		['exchange with headers not strings', { swtb: 1, type: 'exchange', request: { url: '/t', body: {}, headers: { a: true } } }],
		['exchange with headers null', { swtb: 1, type: 'exchange', request: { url: '/t', body: {}, headers: null } }],
		['logout without tab', { swtb: 1, type: 'logout' }],
		['logout with a long tab', { swtb: 1, type: 'logout', tab: 't'.repeat(65) }],
		['seed without generation', { swtb: 1, type: 'seed', accessToken: 'a' }],
		['seed with generation a string', { swtb: 1, type: 'seed', accessToken: 'a', generation: '1' }],
		['seed without accessToken', { swtb: 1, type: 'seed', generation: 1 }],
		['seed with expiresAt a string', { swtb: 1, type: 'seed', accessToken: 'a', generation: 1, expiresAt: 'soon' }],
		['seed with issuedAt a string', { swtb: 1, type: 'seed', accessToken: 'a', generation: 1, issuedAt: 'then' }],
		['refresh with generation a string', { swtb: 1, type: 'refresh', failedToken: 'a', generation: '7' }],
		['refresh with an infinite generation', { swtb: 1, type: 'refresh', failedToken: 'a', generation: Number.POSITIVE_INFINITY }],
	]
	it.each(invalid)('%s', (_label, data) => {
		expectInvalid(parseRequest(data))
		// The same after JSON (NaN and Infinity become null, which is still invalid).
		expectInvalid(parseRequest(JSON.parse(JSON.stringify(data))))
	})

	it('an invalid message does not throw, and its error message is bounded', () => {
		const result = parseRequest({ swtb: 1, type: 'x'.repeat(100_000) })
		expectInvalid(result)
		if (result.kind === 'invalid') expect(result.error.message.length).toBeLessThan(500)
	})

	it('a version field that cannot be turned into a string is invalid, not a crash', () => {
		// Same-origin script can post exactly this (structured clone keeps the own "toString" key):
		// the broker must answer it with an error instead of throwing in its message handler.
		const hostile = JSON.parse('{"swtb":{"toString":null},"type":"hello"}') as unknown
		expect(() => parseRequest(hostile)).not.toThrow()
		expectInvalid(parseRequest(hostile))
		expectInvalid(readBrokerMessage(structuredClone(hostile)))
	})
})

describe('readBrokerMessage: a version or type the page does not read is invalid', () => {
	const invalid: Array<[string, unknown]> = [
		['wrong version', { swtb: 0, type: 'token', snapshot: { accessToken: 'a', generation: 1 } }],
		['a newer version', { swtb: 2, type: 'reply', ok: true, snapshot: { accessToken: 'a', generation: 1 } }],
		['a request, not a reply or broadcast', { swtb: 1, type: 'hello' }],
		['no type', { swtb: 1 }],
		['a type that is not a string', { swtb: 1, type: { toString: null } }],
	]
	it.each(invalid)('%s', (_label, data) => {
		expectInvalid(readBrokerMessage(data))
	})
})

describe('prototype pollution', () => {
	function exchangeWithBody(json: string): unknown {
		return JSON.parse(`{"swtb":1,"type":"exchange","request":{"url":"/oauth/token","body":${json},"headers":${json}}}`)
	}

	it('"__proto__", "constructor" and "prototype" keys in body and headers come out as own properties and pollute nothing', () => {
		const data = exchangeWithBody('{"__proto__":"p","constructor":"c","prototype":"q","code":"xyz"}')
		const parsed = parseRequest(data)
		expect(parsed.kind).toBe('ok')
		if (parsed.kind !== 'ok' || parsed.message.type !== 'exchange') throw new Error('unreachable')
		for (const map of [parsed.message.request.body!, parsed.message.request.headers!]) {
			expect(Object.getPrototypeOf(map)).toBe(Object.prototype)
			expect(Object.hasOwn(map, '__proto__')).toBe(true)
			expect(Object.getOwnPropertyDescriptor(map, '__proto__')?.value).toBe('p')
			expect(Object.hasOwn(map, 'constructor')).toBe(true)
			expect(map.constructor).toBe('c')
			expect(map.prototype).toBe('q')
			expect(map.code).toBe('xyz')
			expect(Object.keys(map).sort()).toEqual(['__proto__', 'code', 'constructor', 'prototype'])
		}
		expect(({} as Record<string, unknown>).polluted).toBeUndefined()
		// The body still turns into the form it says.
		const form = new URLSearchParams(parsed.message.request.body)
		expect(form.get('__proto__')).toBe('p')
		expect(form.get('code')).toBe('xyz')
	})

	it('an object under "__proto__" is refused, and does not reach Object.prototype', () => {
		const data = exchangeWithBody('{"__proto__":{"polluted":"yes"}}')
		expectInvalid(parseRequest(data))
		expect(({} as Record<string, unknown>).polluted).toBeUndefined()
		const viaClone = structuredClone(data)
		expectInvalid(parseRequest(viaClone))
		expect(({} as Record<string, unknown>).polluted).toBeUndefined()
	})

	it('a "constructor": {"prototype": …} body does not pollute either', () => {
		const data = exchangeWithBody('{"constructor":{"prototype":{"polluted":"yes"}}}')
		expectInvalid(parseRequest(data))
		expect(({} as Record<string, unknown>).polluted).toBeUndefined()
	})

	it('login tokens hidden under "__proto__" are not read', () => {
		const data = JSON.parse('{"swtb":1,"type":"login","tokens":{"__proto__":{"accessToken":"evil"}}}') as unknown
		expectInvalid(parseRequest(data))
		const withOwn = JSON.parse('{"swtb":1,"type":"login","tokens":{"accessToken":"good","__proto__":{"refreshToken":"evil","polluted":"yes"}}}') as unknown
		expect(parseRequest(withOwn)).toStrictEqual({ kind: 'ok', message: { type: 'login', tokens: { accessToken: 'good' } } })
		expect(({} as Record<string, unknown>).polluted).toBeUndefined()
	})

	it('a top-level "__proto__" key does not make a foreign message look like ours', () => {
		const data = JSON.parse('{"__proto__":{"swtb":1,"type":"hello"}}') as unknown
		expect(parseRequest(data)).toEqual({ kind: 'ignore' })
	})
})

describe('exchange with a JSON body', () => {
	const exchange = (request: unknown) => parseRequest({ swtb: 1, type: 'exchange', request })

	it('carries a JSON value as it was given', () => {
		const parsed = exchange({ url: '/api/login', json: { user: 'ada', remember: true, roles: ['a'] } })
		expect(parsed).toEqual({ kind: 'ok', message: { type: 'exchange', request: { url: '/api/login', json: { user: 'ada', remember: true, roles: ['a'] } } } })
	})

	it('refuses both a form body and a JSON one, a value JSON cannot write, and an oversized one', () => {
		expect(exchange({ url: '/api/login', body: { a: 'b' }, json: { a: 'b' } }).kind).toBe('invalid')
		expect(exchange({ url: '/api/login', json: 10n }).kind).toBe('invalid')
		expect(exchange({ url: '/api/login', json: 'x'.repeat(70_000) }).kind).toBe('invalid')
	})
})
