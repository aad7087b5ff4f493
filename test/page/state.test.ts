import { afterEach, describe, expect, it } from 'vitest'
import type { TokenEvent } from '../../src/session/tab-session.js'
import { flush } from '../core/helpers.js'
import { FakeWorld, closeClients, openClient } from './fake-world.js'

afterEach(closeClients)

describe('client.state', () => {
	it('is connecting until the first sync, then signed-out without a session, announced by a state event', async () => {
		const world = new FakeWorld()
		const { client } = openClient(world)
		const events: TokenEvent[] = []
		client.subscribe((event) => events.push(event))
		expect(client.state).toEqual({ status: 'connecting' })
		await flush()
		expect(client.state).toEqual({ status: 'signed-out' })
		expect(events).toEqual([{ type: 'state', state: { status: 'signed-out' } }])
	})

	it('keeps its identity until it changes, as useSyncExternalStore requires', async () => {
		const world = new FakeWorld()
		const a = openClient(world)
		const b = openClient(world)
		await flush()
		const signedOut = b.client.state
		expect(b.client.state).toBe(signedOut)

		await a.client.login(world.issue({ expiresIn: 60 }))
		await flush()
		const signedIn = b.client.state
		expect(signedIn).toEqual({ status: 'signed-in', expiresAt: world.clock.now + 60_000 })
		expect(b.client.state).toBe(signedIn)

		world.clock.now += 1_000
		world.refreshBehaviour = async () => world.issue({ expiresIn: 60 })
		await b.client.refresh()
		await flush()
		expect(b.client.state).not.toBe(signedIn)
		expect(b.client.state.expiresAt).toBe(world.clock.now + 60_000)

		const states: unknown[] = []
		b.client.subscribe((event) => {
			if (event.type === 'state') states.push(b.client.state)
		})
		await a.client.logout()
		await flush()
		expect(b.client.state).toEqual({ status: 'signed-out' })
		expect(states).toEqual([b.client.state])
	})
})
