import { afterEach, describe, expect, it, vi } from 'vitest'
import { type BrokerRequest, envelope, parseRequest } from '../../src/core/protocol.js'
import { selectConnection } from '../../src/transports/select.js'

/** An active worker that answers every request with a signed-in snapshot, and records what it got. */
function fakeActiveWorker() {
	const received: BrokerRequest[] = []
	const worker = {
		postMessage(message: unknown, transfer: MessagePort[]) {
			const parsed = parseRequest(message)
			if (parsed.kind !== 'ok') throw new Error('bad request')
			received.push(parsed.message)
			transfer[0]!.postMessage(envelope({ type: 'reply', ok: true, snapshot: { accessToken: 'at-1', generation: 1 } }))
			transfer[0]!.close()
		},
	}
	return { received, registration: { active: worker } as unknown as ServiceWorkerRegistration }
}

function fakeContainer(ready: Promise<ServiceWorkerRegistration>, controller: object | null = null): ServiceWorkerContainer {
	return { ready, controller, addEventListener() {}, removeEventListener() {}, startMessages() {} } as unknown as ServiceWorkerContainer
}

afterEach(() => {
	vi.unstubAllGlobals()
})

describe('selectConnection', () => {
	it("talks to the page's active worker at once while the app's register() is still queued", async () => {
		const { received, registration } = fakeActiveWorker()
		vi.stubGlobal('navigator', { serviceWorker: fakeContainer(Promise.resolve(registration)) })
		// register() waits behind every other tab's update job for the scope: here it never answers.
		const queued = new Promise<ServiceWorkerRegistration>(() => undefined)
		const { connection, host } = selectConnection({ serviceWorker: queued, fallback: { refresh: async () => ({ accessToken: 'x' }) }, timeoutMs: 1_000, onEvent: undefined })
		await expect(host).resolves.toBe('service-worker')
		await expect(connection.request({ type: 'hello' }, 1_000)).resolves.toEqual({ accessToken: 'at-1', generation: 1 })
		expect(received).toEqual([{ type: 'hello' }])
		connection.close()
	})

	it('a register() that fails while a worker controls the page keeps that worker, not the fallback', async () => {
		const { received, registration } = fakeActiveWorker()
		// `ready` answers a moment after the rejection, as it does in a browser: a task later.
		const ready = new Promise<ServiceWorkerRegistration>((resolve) => setTimeout(() => resolve(registration), 20))
		vi.stubGlobal('navigator', { serviceWorker: fakeContainer(ready, registration.active) })
		const { connection, host } = selectConnection({ serviceWorker: Promise.reject(new Error('blocked by policy')), fallback: { refresh: async () => ({ accessToken: 'x' }) }, timeoutMs: 1_000, onEvent: undefined })
		await expect(host).resolves.toBe('service-worker')
		await expect(connection.request({ type: 'hello' }, 1_000)).resolves.toMatchObject({ accessToken: 'at-1' })
		expect(received).toHaveLength(1)
		connection.close()
	})

	it('uses the registration the app hands in when no worker is active yet', async () => {
		const { received, registration } = fakeActiveWorker()
		vi.stubGlobal('navigator', { serviceWorker: fakeContainer(new Promise(() => undefined)) })
		const { connection, host } = selectConnection({ serviceWorker: Promise.resolve(registration), fallback: false, timeoutMs: 1_000, onEvent: undefined })
		await expect(host).resolves.toBe('service-worker')
		await expect(connection.request({ type: 'hello' }, 1_000)).resolves.toMatchObject({ accessToken: 'at-1' })
		expect(received).toHaveLength(1)
		connection.close()
	})
})
