import { afterEach, describe, expect, it, vi } from 'vitest'
import { RefreshUnavailableError } from '../../src/core/errors/refresh-unavailable-error.js'
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

describe('the page side of the refresh gate', () => {
	it('a refresh request tells the broker how long the tab waits, a tenth (at most a second) short of its own time limit, and the generation it holds', async () => {
		const world = new FakeWorld()
		const { client } = openClient(world, { timeoutMs: 8_000 })
		await client.login(world.issue())
		const { generation } = world.core.snapshot()
		world.refreshBehaviour = async () => world.issue()
		await client.refresh()
		expect(world.messages.filter((message) => message.type === 'refresh')).toEqual([{ type: 'refresh', failedToken: 'access-1', waitMs: 7_200, generation }])
	})

	it('a request refused while the broker waits for its next attempt gets RefreshUnavailableError with retryAt', async () => {
		const world = new FakeWorld()
		const { client } = openClient(world, { timeoutMs: 1_500 })
		await client.login(world.issue())
		world.refreshBehaviour = async () => {
			throw new TypeError('Failed to fetch')
		}
		await expect(client.refresh()).rejects.toBeInstanceOf(RefreshUnavailableError)
		// The next attempt is 2–5 s away, past this tab's wait of 0.5 s: refused at once, saying when.
		const error = await client.refresh().catch((e: unknown) => e)
		expect(error).toBeInstanceOf(RefreshUnavailableError)
		expect((error as RefreshUnavailableError).retryAt).toBeGreaterThan(world.clock.now + 1_000)
	})

	it("'online', and a tab becoming visible, tell the broker its wait starts over", async () => {
		const document = Object.assign(new EventTarget(), { visibilityState: 'hidden' })
		const window = new EventTarget()
		vi.stubGlobal('document', document)
		vi.stubGlobal('addEventListener', window.addEventListener.bind(window))
		vi.stubGlobal('removeEventListener', window.removeEventListener.bind(window))
		const world = new FakeWorld()
		const { client } = openClient(world)
		await client.login(world.issue())
		window.dispatchEvent(new Event('online'))
		document.visibilityState = 'visible'
		document.dispatchEvent(new Event('visibilitychange'))
		await flush()
		expect(world.count('resume')).toBe(2)
		vi.unstubAllGlobals()
	})
})
