import { afterEach, describe, expect, it, vi } from 'vitest'
import type { BrokerEvent } from '../../src/core/broker-core.js'
import type { RefreshContext, RefreshFunction } from '../../src/core/refresh-function.js'
import type { TokenSet } from '../../src/core/protocol.js'
import { connectInPage } from '../../src/transports/in-page.js'

afterEach(() => {
	vi.unstubAllGlobals()
})

describe('in-page host', () => {
	it("a user logout starts the refresh function's server logout before the logout reaches this tab (whose onLogout navigates), and answers without waiting for it", async () => {
		vi.stubGlobal('location', { origin: 'http://app.test' })
		const order: string[] = []
		const events: BrokerEvent[] = []
		const logout = vi.fn((_context: RefreshContext) => {
			order.push('server logout')
			return new Promise<void>(() => undefined)
		})
		const refresh: RefreshFunction = Object.assign(async (): Promise<TokenSet> => ({ accessToken: 'A2' }), { logout })
		const connection = connectInPage({ refresh, onEvent: (event) => events.push(event) })
		try {
			await connection.request({ type: 'login', tokens: { accessToken: 'A1', refreshToken: 'R1' } }, 2_000)
			connection.onBroadcast((message) => order.push(`broadcast ${message.type}`))
			const snapshot = await connection.request({ type: 'logout', tab: 'this-tab' }, 2_000)
			expect(snapshot.accessToken).toBeNull()
			expect(order).toEqual(['server logout', 'broadcast logout'])
			expect(logout.mock.calls[0]![0].refreshToken).toBe('R1')
			expect(events.filter((event) => event.type === 'server-logout')).toEqual([])
		} finally {
			connection.close()
		}
	})
})
