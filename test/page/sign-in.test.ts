import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { LoginFailedError } from '../../src/core/errors/login-failed-error.js'
import type { SignInFlow } from '../../src/core/oidc/sign-in-flow.js'
import { flush } from '../core/helpers.js'
import { FakeWorld, closeClients, errorOf, openClient } from './fake-world.js'

const CALLBACK = 'https://app.test/callback?code=c1&state=s1'

/** The broker's side of the flow, faked: openIdProvider's own checks are tested in test/core/oidc. */
function fakeFlow(): SignInFlow & { completed: string[] } {
	const completed: string[] = []
	return {
		completed,
		begin: async (request) => `https://idp.test/auth?state=s1&return=${request.returnTo ?? ''}`,
		complete: async (url) => {
			if (completed.includes(url)) throw new LoginFailedError('used', { oauthError: 'invalid_state' })
			completed.push(url)
			return { tokens: { accessToken: 'signed-in', refreshToken: 'secret-refresh', idToken: 'id.token.here', user: { sub: 'u1', name: 'Ada' } }, returnTo: '/orders' }
		},
		endSessionUrl: async (idToken) => `https://idp.test/end?id_token_hint=${idToken}`,
	}
}

let assign: ReturnType<typeof vi.fn>
beforeEach(() => {
	assign = vi.fn()
	vi.stubGlobal('location', { assign, href: CALLBACK, origin: 'https://app.test' })
})
afterEach(() => {
	closeClients()
	vi.unstubAllGlobals()
})

describe('client.signIn / completeSignIn / state.user / logout({ endSession })', () => {
	it('signIn navigates to the authorization URL the broker made; nothing changes before the callback', async () => {
		const world = new FakeWorld(2_000, fakeFlow())
		const { client } = openClient(world)
		await client.signIn({ returnTo: '/orders' })
		expect(assign).toHaveBeenCalledWith('https://idp.test/auth?state=s1&return=/orders')
		expect(client.state.status).toBe('signed-out')
	})

	it('completeSignIn (default: location.href) signs in every tab with the user, and answers returnTo', async () => {
		const world = new FakeWorld(2_000, fakeFlow())
		const a = openClient(world)
		const b = openClient(world)
		await flush()
		expect(await a.client.completeSignIn()).toEqual({ returnTo: '/orders' })
		await flush()
		for (const tab of [a, b]) {
			expect(tab.client.state).toMatchObject({ status: 'signed-in', user: { sub: 'u1', name: 'Ada' } })
			expect(await tab.client.getAccessToken()).toBe('signed-in')
		}
	})

	it('a callback opened twice rejects with invalid_state and the session stays', async () => {
		const world = new FakeWorld(2_000, fakeFlow())
		const { client } = openClient(world)
		await client.completeSignIn(CALLBACK)
		const error = await errorOf(client.completeSignIn(CALLBACK))
		expect(error).toBeInstanceOf(LoginFailedError)
		expect((error as LoginFailedError).oauthError).toBe('invalid_state')
		expect(client.state.status).toBe('signed-in')
	})

	it('logout({ endSession: true }): every tab drops the session, then this tab goes to the end-session URL instead of onLogout', async () => {
		const world = new FakeWorld(2_000, fakeFlow())
		const a = openClient(world)
		const b = openClient(world)
		await a.client.completeSignIn(CALLBACK)
		await flush()
		await a.client.logout({ endSession: true })
		await flush()
		expect(assign).toHaveBeenCalledWith('https://idp.test/end?id_token_hint=id.token.here')
		expect(a.logouts).toEqual([])
		expect(b.logouts).toEqual(['remote'])
		expect(b.client.state.status).toBe('signed-out')
	})

	it('logout() without endSession runs onLogout and goes nowhere else', async () => {
		const world = new FakeWorld(2_000, fakeFlow())
		const a = openClient(world)
		await a.client.completeSignIn(CALLBACK)
		await a.client.logout()
		await flush()
		expect(assign).not.toHaveBeenCalled()
		expect(a.logouts).toEqual(['user'])
	})
})
