import { afterEach, describe, expect, it, vi } from 'vitest'
import type { BrokerEvent } from '../../src/core/broker-core.js'
import type { RefreshContext, RefreshFunction } from '../../src/core/refresh-function.js'
import type { TokenSet } from '../../src/core/protocol.js'
import type { SignInFlow } from '../../src/core/oidc/sign-in-flow.js'
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

	it("signs in with the refresh preset's sign-in flow (openIdProvider's), and a refresh without a new ID token keeps the user", async () => {
		vi.stubGlobal('location', { origin: 'http://app.test' })
		const signIn: SignInFlow = {
			begin: async () => 'https://idp.test/auth?state=s',
			complete: async () => ({ tokens: { accessToken: 'A1', refreshToken: 'R1', idToken: 'i.d.t', user: { sub: 'u1' } }, returnTo: '/orders' }),
			endSessionUrl: async () => undefined,
		}
		const refresh: RefreshFunction = Object.assign(async (): Promise<TokenSet> => ({ accessToken: 'A2', refreshToken: 'R2' }), { signIn })
		const connection = connectInPage({ refresh })
		try {
			expect((await connection.request({ type: 'sign-in', options: {} }, 2_000)).location).toBe('https://idp.test/auth?state=s')
			const signedIn = await connection.request({ type: 'complete-sign-in', url: 'http://app.test/cb?state=s&code=c' }, 2_000)
			expect(signedIn).toMatchObject({ accessToken: 'A1', user: { sub: 'u1' }, location: '/orders' })
			const refreshed = await connection.request({ type: 'refresh', failedToken: 'A1' }, 2_000)
			expect(refreshed).toMatchObject({ accessToken: 'A2', user: { sub: 'u1' } })
		} finally {
			connection.close()
		}
	})

	it('logout({ endSession }) with a preset that cannot sign in logs out as usual and names no end-session URL', async () => {
		vi.stubGlobal('location', { origin: 'http://app.test' })
		const connection = connectInPage({ refresh: async () => ({ accessToken: 'A2' }) })
		try {
			await connection.request({ type: 'login', tokens: { accessToken: 'A1' } }, 2_000)
			const answer = await connection.request({ type: 'logout', tab: 't', endSession: true }, 2_000)
			expect(answer.accessToken).toBeNull()
			expect(answer.location).toBeUndefined()
		} finally {
			connection.close()
		}
	})
})
