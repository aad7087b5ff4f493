import { afterEach, describe, expect, it } from 'vitest'
import { keepConnected } from '../../examples/realtime.js'
import { flush } from '../core/helpers.js'
import { FakeWorld, closeClients, openClient } from '../page/fake-world.js'

afterEach(closeClients)

/** Connections as a WebSocket or EventSource server sees them: the token each was opened with, and whether it is still open. */
function fakeServer() {
	const connections: { token: string; open: boolean; expire: () => void }[] = []
	return {
		connections,
		open: (token: string, expired: () => void) => {
			const connection = { token, open: true, expire: expired }
			connections.push(connection)
			return () => {
				connection.open = false
			}
		},
		live: () => connections.filter((connection) => connection.open).map((connection) => connection.token),
	}
}

const settle = async () => {
	for (let round = 0; round < 5; round++) await flush()
}

describe('the WebSocket / EventSource recipe (examples/realtime.ts): getAccessToken() and the token event', () => {
	it('connects with the current token and reconnects with the new one after a refresh in another tab', async () => {
		const world = new FakeWorld()
		const [tab, other] = [openClient(world), openClient(world)]
		await tab.client.login(world.issue())
		await settle()
		const server = fakeServer()
		keepConnected(tab.client, server.open)
		await settle()
		expect(server.live()).toEqual([world.validToken])
		const first = world.validToken
		await other.client.refresh()
		await settle()
		expect(world.validToken).not.toBe(first)
		expect(server.live()).toEqual([world.validToken])
		expect(server.connections).toHaveLength(2)
	})

	it('3 tabs whose connections the server ends for an expired token: 1 refresh, and each reconnects once with the new token', async () => {
		const world = new FakeWorld()
		const tabs = [openClient(world), openClient(world), openClient(world)]
		await tabs[0]!.client.login(world.issue())
		await settle()
		const servers = tabs.map((tab) => {
			const server = fakeServer()
			keepConnected(tab.client, server.open)
			return server
		})
		await settle()
		for (const server of servers) server.connections[0]!.expire()
		await settle()
		expect(world.refreshCalls).toHaveLength(1)
		for (const server of servers) {
			expect(server.live()).toEqual([world.validToken])
			expect(server.connections).toHaveLength(2)
		}
	})

	it('a logout closes the connection, and the next sign-in opens one', async () => {
		const world = new FakeWorld()
		const { client } = openClient(world)
		await client.login(world.issue())
		await settle()
		const server = fakeServer()
		const stop = keepConnected(client, server.open)
		await settle()
		await client.logout()
		await settle()
		expect(server.live()).toEqual([])
		await client.login(world.issue())
		await settle()
		expect(server.live()).toEqual([world.validToken])
		stop()
		expect(server.live()).toEqual([])
	})
})
