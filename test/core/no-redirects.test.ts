import { type IncomingMessage, type Server, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LoginFailedError } from '../../src/core/errors/login-failed-error.js'
import { RefreshUnavailableError } from '../../src/core/errors/refresh-unavailable-error.js'
import { exchangeWith } from '../../src/core/exchange.js'
import { oauth2Refresh } from '../../src/core/presets.js'

/** A real server whose sign-in and token paths answer 307 to a collector on the same server, as an open redirect would. */
let server: Server
let base: string
let collected: Array<{ url: string; body: string }>

function bodyOf(request: IncomingMessage): Promise<string> {
	return new Promise((resolve) => {
		let body = ''
		request.on('data', (chunk: Buffer) => {
			body += chunk.toString()
		})
		request.on('end', () => resolve(body))
	})
}

beforeEach(async () => {
	collected = []
	server = createServer((request, response) => {
		void bodyOf(request).then((body) => {
			if (request.url === '/collect') {
				collected.push({ url: request.url, body })
				response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'ATTACKER-A', refresh_token: 'ATTACKER-R' }))
				return
			}
			response.writeHead(307, { location: '/collect' }).end()
		})
	})
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
	base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterEach(async () => {
	await new Promise((resolve) => server.close(resolve))
})

const signal = () => new AbortController().signal

describe('against a real server answering 307', () => {
	it('exchange() rejects with LoginFailedError and the form never reaches the redirect target', async () => {
		const error = await exchangeWith()({ url: `${base}/login`, body: { code: 'c', code_verifier: 'v' } }, signal()).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(LoginFailedError)
		expect((error as LoginFailedError).status).toBe(307)
		expect(collected).toEqual([])
	})

	it('a JSON exchange() is not followed either', async () => {
		const error = await exchangeWith()({ url: `${base}/login`, json: { user: 'u', password: 'p' } }, signal()).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(LoginFailedError)
		expect(collected).toEqual([])
	})

	it('oauth2Refresh rejects as transient and the refresh token never reaches the redirect target', async () => {
		const error = await oauth2Refresh({ tokenEndpoint: `${base}/oauth/token`, clientId: 'spa' })({ refreshToken: 'R1', signal: signal() }).catch((e: unknown) => e)
		expect(error).toBeInstanceOf(RefreshUnavailableError)
		expect((error as RefreshUnavailableError).status).toBe(307)
		expect(collected).toEqual([])
	})
})
