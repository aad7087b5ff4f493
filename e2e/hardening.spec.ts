import { startDevAuthServer } from '../testing/index.js'
import { demoDir, expect, fire, openSignedInTabs, test } from './fixtures.js'

test('the worker survives 1,200 random and malformed messages, answers each malformed one with an error, then serves requests', async ({ context, server }) => {
	const [tab] = await openSignedInTabs(context, server, 1)
	const token = await tab!.evaluate(() => (window as any).swtbDemo.client.getAccessToken())
	const report = await tab!.evaluate(async (count) => {
		const worker = (await navigator.serviceWorker.ready).active!
		let seed = 1
		const random = () => {
			seed = (seed * 16807) % 2147483647
			return seed / 2147483647
		}
		const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!
		const junk = (): unknown =>
			pick<() => unknown>([
				() => null,
				() => 42,
				() => 'x'.repeat(Math.floor(random() * 70_000)),
				() => [1, 2, 3],
				() => ({ type: 'refresh' }),
				() => JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'),
				() => new Uint8Array(64),
				() => ({ nested: { deep: { deeper: [{}] } } }),
			])()
		const malformed = (): Record<string, unknown> =>
			pick<() => Record<string, unknown>>([
				() => ({ swtb: 2, type: 'hello' }),
				() => ({ swtb: 1 }),
				() => ({ swtb: 1, type: pick(['', 'nope', 'token', 'reply', 'x'.repeat(10_000)]) }),
				() => ({ swtb: 1, type: 'refresh', failedToken: pick([42, {}, [], '', 'x'.repeat(20_000)]) }),
				() => ({ swtb: 1, type: 'login', tokens: pick([null, 'x', { accessToken: 7 }, { accessToken: '' }, { accessToken: 'a', expiresAt: 'soon' }]) }),
				() => ({
					swtb: 1,
					type: 'exchange',
					request: pick([null, { url: 5, body: {} }, { url: '/x', body: { a: 1 } }, { url: '/x', body: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v'])) }]),
				}),
				() => ({ swtb: 1, type: 'logout' }),
				() => ({ swtb: 1, type: 'seed', accessToken: 'a' }),
				() => ({ swtb: { toString: null }, type: 'hello' }),
				() => JSON.parse('{"swtb":1,"type":"exchange","request":{"url":"/auth/login","body":{"__proto__":{"polluted":"yes"}}}}'),
			])()
		let expectedErrors = 0
		const replies: Promise<string>[] = []
		for (let i = 0; i < count; i++) {
			const kind = random()
			const channel = new MessageChannel()
			if (kind < 0.3) {
				worker.postMessage(junk(), [channel.port2])
			} else if (kind < 0.4) {
				// A port nobody reads: the worker must not wait on it.
				worker.postMessage(malformed(), [channel.port2])
				channel.port1.close()
			} else if (kind < 0.5) {
				worker.postMessage(malformed())
			} else {
				expectedErrors++
				replies.push(
					new Promise<string>((resolve) => {
						const timer = setTimeout(() => resolve('no answer'), 10_000)
						channel.port1.onmessage = (event) => {
							clearTimeout(timer)
							resolve(event.data?.ok === false ? event.data.error.name : 'unexpected success')
						}
					}),
				)
				worker.postMessage(malformed(), [channel.port2])
			}
		}
		const answers = await Promise.all(replies)
		return {
			sent: count,
			expectedErrors,
			protocolErrors: answers.filter((answer) => answer === 'ProtocolError').length,
			other: [...new Set(answers.filter((answer) => answer !== 'ProtocolError'))],
			polluted: ({} as Record<string, unknown>).polluted ?? null,
		}
	}, 1_200)
	console.log(`fuzz: ${report.sent} messages sent, ${report.protocolErrors} of ${report.expectedErrors} malformed requests answered with ProtocolError`)
	expect(report.other).toEqual([])
	expect(report.protocolErrors).toBe(report.expectedErrors)
	expect(report.polluted).toBeNull()

	expect(await tab!.evaluate(() => (window as any).swtbDemo.client.getAccessToken())).toBe(token)
	server.resetStats()
	server.expireAccessTokens()
	expect(await fire(tab!, 20)).toEqual({ ok: 20, failed: 0, errors: [] })
	expect(server.stats().refreshCalls).toBe(1)
})

test('exchange refused by the URL rule or by the server rejects with LoginFailedError and leaves the session untouched', async ({ context, server }) => {
	const other = await startDevAuthServer({ staticDir: demoDir })
	try {
		const [tab] = await openSignedInTabs(context, server, 1)
		const token = await tab!.evaluate(() => (window as any).swtbDemo.client.getAccessToken())
		const attempt = (url: string, password: string) =>
			tab!.evaluate(
				([target, secret]) =>
					(window as any).swtbDemo.client.exchange({ url: target, body: { username: 'demo', password: secret } }).then(
						() => 'signed in',
						(error: any) => ({ name: error.name, status: error.status ?? null }),
					),
				[url, password] as const,
			)

		expect(await attempt(`${other.url}/auth/login`, 'demo')).toEqual({ name: 'LoginFailedError', status: null })
		expect(other.stats().logins).toBe(0)
		expect(await attempt('/auth/login', 'wrong')).toEqual({ name: 'LoginFailedError', status: 401 })
		expect(await tab!.evaluate(() => (window as any).swtbDemo.client.getAccessToken())).toBe(token)
		expect(await fire(tab!, 1)).toEqual({ ok: 1, failed: 0, errors: [] })
	} finally {
		await other.close()
	}
})

test("exchange() does not follow an open redirect on the app's origin: the sign-in form goes nowhere else", async ({ context, server }) => {
	const other = await startDevAuthServer({ staticDir: demoDir })
	try {
		const [tab] = await openSignedInTabs(context, server, 1)
		const token = await tab!.evaluate(() => (window as any).swtbDemo.client.getAccessToken())
		// 307 keeps the POST and its body: the worker must not send the password on to the redirect's target.
		const url = `/api/redirect?status=307&to=${encodeURIComponent(`${other.url}/auth/login`)}`
		const outcome = await tab!.evaluate(
			(exchangeUrl) =>
				(window as any).swtbDemo.client.exchange({ url: exchangeUrl, body: { username: 'demo', password: 'demo' } }).then(
					() => 'signed in',
					(error: Error) => `${error.name}: ${error.message}`,
				),
			url,
		)
		expect(outcome).toMatch(/^LoginFailedError: .*answered with a redirect/)
		expect(other.stats().logins).toBe(0)
		// The session in place is kept.
		expect(await tab!.evaluate(() => (window as any).swtbDemo.client.getAccessToken())).toBe(token)
	} finally {
		await other.close()
	}
})

test('the access token does not follow a redirect to another origin', async ({ context, server }) => {
	const other = await startDevAuthServer({ staticDir: demoDir })
	try {
		const [tab] = await openSignedInTabs(context, server, 1)
		server.resetStats()
		const status = await tab!.evaluate(
			(to) =>
				(window as any).swtbDemo.api.get(`/api/redirect?to=${encodeURIComponent(to)}`).then(
					() => 200,
					(e: any) => e.status ?? e.message,
				),
			`${other.url}/api/echo`,
		)
		expect(status).toBe(401)
		expect(server.lastApiHeaders().at(-1)?.authorization).toMatch(/^Bearer /)
		expect(other.lastApiHeaders()).toHaveLength(1)
		expect(other.lastApiHeaders()[0]!.authorization).toBeUndefined()
		// The 401 came from the other origin: no refresh, no retry.
		expect(server.stats().refreshCalls).toBe(0)
		expect(server.stats().apiCalls).toBe(1)
	} finally {
		await other.close()
	}
})

test('a <base href> on another origin: relative requests resolve there, and go without the token, from axios and from client.fetch', async ({ context, server }) => {
	const other = await startDevAuthServer({ staticDir: demoDir })
	try {
		const [tab] = await openSignedInTabs(context, server, 1)
		server.resetStats()
		const statuses = await tab!.evaluate(async (base) => {
			const element = document.createElement('base')
			element.href = base
			document.head.prepend(element)
			const demo = (window as any).swtbDemo
			const viaAxios = await demo.api.get('/api/echo').then(
				() => 200,
				(error: any) => error.status,
			)
			const viaFetch = (await demo.client.fetch('/api/echo')).status
			return [viaAxios, viaFetch]
		}, `${other.url}/`)
		expect(statuses).toEqual([401, 401])
		expect(other.lastApiHeaders().map((headers) => headers.authorization)).toEqual([undefined, undefined])
		expect(server.stats().apiCalls).toBe(0)
		expect(server.stats().refreshCalls).toBe(0)
	} finally {
		await other.close()
	}
})
