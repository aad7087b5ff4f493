import { afterEach, describe, expect, it, vi } from 'vitest'
import { NoServiceWorkerError } from '../../src/core/errors/no-service-worker-error.js'
import { parseRequest } from '../../src/core/parse-message.js'
import { type BrokerRequest, envelope } from '../../src/core/protocol.js'
import { selectConnection } from '../../src/transports/select.js'

/** A worker that answers every request with a signed-in snapshot, and records what it got. */
function fakeWorker(state = 'activated', accessToken = 'at-1') {
	const received: BrokerRequest[] = []
	const worker = {
		state,
		postMessage(message: unknown, transfer: MessagePort[]) {
			const parsed = parseRequest(message)
			if (parsed.kind !== 'ok') throw new Error('bad request')
			received.push(parsed.message)
			transfer[0]!.postMessage(envelope({ type: 'reply', ok: true, snapshot: { accessToken, generation: 1 } }))
			transfer[0]!.close()
		},
	}
	return { received, worker, registration: { active: worker, scope: 'http://app.test/' } as unknown as ServiceWorkerRegistration }
}

function fakeContainer(
	registration: () => ServiceWorkerRegistration | undefined,
	ready: Promise<ServiceWorkerRegistration> = new Promise(() => undefined),
	controller: unknown = null,
): ServiceWorkerContainer {
	return {
		ready,
		controller,
		getRegistration: async () => registration(),
		addEventListener() {},
		removeEventListener() {},
		startMessages() {},
	} as unknown as ServiceWorkerContainer
}

const fallback = { refresh: async () => ({ accessToken: 'x' }) }

afterEach(() => {
	vi.unstubAllGlobals()
	vi.useRealTimers()
})

describe('selectConnection', () => {
	it("talks to the page's registered worker at once while the app's register() is still queued", async () => {
		const { received, registration } = fakeWorker()
		vi.stubGlobal('navigator', { serviceWorker: fakeContainer(() => registration) })
		// register() waits behind every other tab's update job for the scope: here it never answers.
		const queued = new Promise<ServiceWorkerRegistration>(() => undefined)
		const { connection, host } = selectConnection({ serviceWorker: queued, fallback, onEvent: undefined })
		await expect(host).resolves.toBe('service-worker')
		await expect(connection.request({ type: 'hello' }, 1_000)).resolves.toEqual({ accessToken: 'at-1', generation: 1 })
		expect(received).toEqual([{ type: 'hello' }])
		connection.close()
	})

	it('a register() that fails while the page has a registered worker keeps that worker, not the fallback', async () => {
		const { received, registration } = fakeWorker()
		vi.stubGlobal('navigator', { serviceWorker: fakeContainer(() => registration) })
		const { connection, host } = selectConnection({ serviceWorker: Promise.reject(new Error('blocked by policy')), fallback, onEvent: undefined })
		await expect(host).resolves.toBe('service-worker')
		await expect(connection.request({ type: 'hello' }, 1_000)).resolves.toMatchObject({ accessToken: 'at-1' })
		expect(received).toHaveLength(1)
		connection.close()
	})

	it('uses the registration the app hands in before the browser lists it', async () => {
		const { received, registration } = fakeWorker()
		vi.stubGlobal('navigator', { serviceWorker: fakeContainer(() => undefined) })
		const { connection, host } = selectConnection({ serviceWorker: Promise.resolve(registration), fallback: false, onEvent: undefined })
		await expect(host).resolves.toBe('service-worker')
		await expect(connection.request({ type: 'hello' }, 1_000)).resolves.toMatchObject({ accessToken: 'at-1' })
		expect(received).toHaveLength(1)
		connection.close()
	})

	it('with no worker registered (vite dev) and no fallback, it decides within 1 s: host "none", and requests fail with NoServiceWorkerError', async () => {
		vi.useFakeTimers()
		vi.stubGlobal('navigator', { serviceWorker: fakeContainer(() => undefined) })
		const { connection, host } = selectConnection({ serviceWorker: undefined, fallback: false, onEvent: undefined })
		let chosen: string | undefined
		void host.then((value) => {
			chosen = value
		})
		const request = connection.request({ type: 'login', tokens: { accessToken: 'a' } }, 15_000).catch((error: unknown) => error)
		await vi.advanceTimersByTimeAsync(999)
		expect(chosen).toBeUndefined()
		await vi.advanceTimersByTimeAsync(1)
		expect(chosen).toBe('none')
		expect(await request).toBeInstanceOf(NoServiceWorkerError)
	})

	it('a registration whose first script failed to load (vite dev) is not taken for a worker: the fallback is chosen at once', async () => {
		// The browser lists the registration while its script loads; it never gets a worker.
		const empty = { active: null, waiting: null, installing: null, scope: 'http://app.test/' } as unknown as ServiceWorkerRegistration
		vi.stubGlobal('navigator', { serviceWorker: fakeContainer(() => empty) })
		const { host } = selectConnection({ serviceWorker: Promise.reject(new TypeError('unsupported MIME type')), fallback: false, onEvent: undefined })
		const started = Date.now()
		await expect(host).resolves.toBe('none')
		expect(Date.now() - started).toBeLessThan(500)
	})

	it("waits for the app's register() while it is in flight: a first install slower than 1 s does not send the tab to the fallback", async () => {
		vi.useFakeTimers()
		const { registration } = fakeWorker()
		vi.stubGlobal('navigator', { serviceWorker: fakeContainer(() => undefined) })
		const slowInstall = new Promise<ServiceWorkerRegistration>((resolve) => setTimeout(() => resolve(registration), 3_000))
		const { host } = selectConnection({ serviceWorker: slowInstall, fallback, onEvent: undefined })
		let chosen: string | undefined
		void host.then((value) => {
			chosen = value
		})
		await vi.advanceTimersByTimeAsync(2_000)
		expect(chosen).toBeUndefined()
		await vi.advanceTimersByTimeAsync(1_000)
		expect(chosen).toBe('service-worker')
	})

	it('a worker registered within the first second is found', async () => {
		vi.useFakeTimers()
		const { received, registration } = fakeWorker()
		let registered: ServiceWorkerRegistration | undefined
		vi.stubGlobal('navigator', { serviceWorker: fakeContainer(() => registered) })
		const { connection, host } = selectConnection({ serviceWorker: undefined, fallback: false, onEvent: undefined })
		await vi.advanceTimersByTimeAsync(600)
		registered = registration
		await vi.advanceTimersByTimeAsync(200)
		await expect(host).resolves.toBe('service-worker')
		vi.useRealTimers()
		await expect(connection.request({ type: 'hello' }, 1_000)).resolves.toMatchObject({ accessToken: 'at-1' })
		expect(received).toHaveLength(1)
	})

	it('never messages a redundant worker: it reads the registration again and talks to the live one', async () => {
		const stale = fakeWorker('redundant', 'from-the-dead')
		const live = fakeWorker('activated', 'at-live')
		vi.stubGlobal('navigator', { serviceWorker: fakeContainer(() => live.registration) })
		const { connection } = selectConnection({ serviceWorker: Promise.resolve(stale.registration), fallback: false, onEvent: undefined })
		await expect(connection.request({ type: 'hello' }, 2_000)).resolves.toMatchObject({ accessToken: 'at-live' })
		expect(stale.received).toEqual([])
		expect(live.received).toHaveLength(1)
	})

	it('a controlled page talks to its controller at once, before the browser has listed any registration', async () => {
		const { received, worker } = fakeWorker()
		const listed = vi.fn(() => undefined)
		vi.stubGlobal('navigator', { serviceWorker: fakeContainer(listed, undefined, worker) })
		const { connection, host } = selectConnection({ serviceWorker: new Promise(() => undefined), fallback, onEvent: undefined })
		await expect(host).resolves.toBe('service-worker')
		await expect(connection.request({ type: 'hello' }, 1_000)).resolves.toMatchObject({ accessToken: 'at-1' })
		expect(received).toEqual([{ type: 'hello' }])
		expect(listed).not.toHaveBeenCalled()
		connection.close()
	})

	it('a redundant controller is never messaged: the registration is looked up instead', async () => {
		const stale = fakeWorker('redundant', 'from-the-dead')
		const live = fakeWorker('activated', 'at-live')
		vi.stubGlobal('navigator', { serviceWorker: fakeContainer(() => live.registration, undefined, stale.worker) })
		const { connection } = selectConnection({ serviceWorker: undefined, fallback: false, onEvent: undefined })
		await expect(connection.request({ type: 'hello' }, 2_000)).resolves.toMatchObject({ accessToken: 'at-live' })
		expect(stale.received).toEqual([])
		connection.close()
	})

	it("once the controller is replaced (a new version took over), requests go to the registration's live worker", async () => {
		const old = fakeWorker('activated', 'at-old')
		const next = fakeWorker('activated', 'at-new')
		vi.stubGlobal('navigator', { serviceWorker: fakeContainer(() => next.registration, undefined, old.worker) })
		const { connection } = selectConnection({ serviceWorker: undefined, fallback: false, onEvent: undefined })
		await expect(connection.request({ type: 'hello' }, 2_000)).resolves.toMatchObject({ accessToken: 'at-old' })
		old.worker.state = 'redundant'
		await expect(connection.request({ type: 'hello' }, 2_000)).resolves.toMatchObject({ accessToken: 'at-new' })
		expect(old.received).toHaveLength(1)
		expect(next.received).toHaveLength(1)
		connection.close()
	})
})
