import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { BrokerTimeoutError } from '../../src/core/errors/broker-timeout-error.js'
import { LoggedOutError } from '../../src/core/errors/logged-out-error.js'
import { NoServiceWorkerError } from '../../src/core/errors/no-service-worker-error.js'
import { ProtocolError } from '../../src/core/errors/protocol-error.js'
import { RefreshUnavailableError } from '../../src/core/errors/refresh-unavailable-error.js'
import { RequestNotReplayableError } from '../../src/core/errors/request-not-replayable-error.js'
import { TokenBrokerError } from '../../src/core/errors/token-broker-error.js'

const make = () => [
	new BrokerTimeoutError('refresh', 15_000),
	new LoggedOutError('refresh-rejected'),
	new NoServiceWorkerError(),
	new ProtocolError('no type'),
	new RefreshUnavailableError('offline', { retryAt: 0 }),
	new RequestNotReplayableError(),
]

/** GitHub's anchor of a `### \`Name\`` heading: the name in lower case. */
const anchors = new Set([...readFileSync(new URL('../../docs/troubleshooting.md', import.meta.url), 'utf8').matchAll(/^### `(\w+)`$/gm)].map((match) => match[1]!.toLowerCase()))

describe('production builds: short messages with a link, same classes', () => {
	afterEach(() => vi.unstubAllEnvs())

	it('keeps each error class and its fields, and links the section of docs/troubleshooting.md named after it', () => {
		vi.stubEnv('NODE_ENV', 'production')
		for (const error of make()) {
			expect(error).toBeInstanceOf(TokenBrokerError)
			const link = `docs/troubleshooting.md#${error.name.toLowerCase()}`
			expect(error.message).toContain(link)
			expect(anchors.has(error.name.toLowerCase()), `docs/troubleshooting.md has a section for ${error.name}`).toBe(true)
		}
		expect(new LoggedOutError('user').reason).toBe('user')
		expect(new BrokerTimeoutError('hello', 5).timeoutMs).toBe(5)
		expect(new RefreshUnavailableError('offline', { retryAt: 7 }).retryAt).toBe(7)
	})

	it('says what happened and what to do at length in development, and in fewer words in production', () => {
		const development = make().map((error) => error.message)
		vi.stubEnv('NODE_ENV', 'production')
		const production = make().map((error) => error.message)
		for (const [index, message] of development.entries()) {
			expect(message).not.toContain('docs/troubleshooting.md')
			expect(production[index]!.length).toBeLessThan(message.length)
		}
	})
})
