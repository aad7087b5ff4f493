import { describe, expect, it, vi } from 'vitest'
import type { BrokerEvent } from '../../src/core/broker-core.js'
import type { TokenSet } from '../../src/core/protocol.js'
import { type BrokerInstallEvent, type BrokerMessageEvent, type BrokerScope, type PeerWorker, createTokenBroker } from '../../sw/broker-host.js'

const ORIGIN = 'https://app.test'
const WINDOW = { type: 'window' }

type Registration = { active: PeerWorker | null; waiting: PeerWorker | null; installing: PeerWorker | null }

class FakeScope implements BrokerScope {
	readonly location = { origin: ORIGIN }
	readonly registration: Registration = { active: null, waiting: null, installing: null }
	readonly broadcasts: unknown[] = []
	readonly clients = { matchAll: async () => [{ postMessage: (message: unknown) => this.broadcasts.push(message) }] }
	#message?: (event: BrokerMessageEvent) => void
	#install?: (event: BrokerInstallEvent) => void

	addEventListener(type: 'message', listener: (event: BrokerMessageEvent) => void): void
	addEventListener(type: 'install', listener: (event: BrokerInstallEvent) => void): void
	addEventListener(type: 'message' | 'install', listener: ((event: BrokerMessageEvent) => void) | ((event: BrokerInstallEvent) => void)): void {
		if (type === 'message') this.#message = listener
		else this.#install = listener as (event: BrokerInstallEvent) => void
	}

	removeEventListener(): void {}

	/** Delivers one message event and waits for everything the handler passed to waitUntil. */
	async dispatch(data: unknown, source: unknown, ports: MessagePort[] = [], origin = ORIGIN): Promise<void> {
		const pending: Promise<unknown>[] = []
		this.#message!({ data, origin, source, ports, waitUntil: (promise) => pending.push(promise) })
		await Promise.all(pending)
	}

	async install(): Promise<void> {
		const pending: Promise<unknown>[] = []
		this.#install!({ waitUntil: (promise) => pending.push(promise) })
		await Promise.all(pending)
	}

	/** Sends a request with a reply port; resolves with the reply, or 'no reply'. */
	async send(data: unknown, options: { origin?: string; source?: unknown; port?: boolean } = {}): Promise<unknown> {
		const channel = new MessageChannel()
		const reply = new Promise((resolve) => {
			channel.port1.onmessage = (event) => resolve(event.data)
		})
		await this.dispatch(data, options.source === undefined ? WINDOW : options.source, options.port === false ? [] : [channel.port2], options.origin)
		const answer = await Promise.race([reply, new Promise((resolve) => setTimeout(() => resolve('no reply'), 50))])
		channel.port1.close()
		return answer
	}
}

const SCRIPT_URL = `${ORIGIN}/sw.js`

/** A worker object as another worker of the registration sees it: postMessage reaches that worker's scope. */
function workerOf(scope: () => FakeScope, self: () => PeerWorker, state: string): PeerWorker {
	return { scriptURL: SCRIPT_URL, state, postMessage: (data, transfer) => void scope().dispatch(data, self(), (transfer ?? []) as MessagePort[]) }
}

/** Firefox's shape: the registration lists a worker by an object other than the one messages come from. */
const anotherObjectFor = (worker: PeerWorker): PeerWorker => ({ scriptURL: worker.scriptURL, state: worker.state, postMessage: () => undefined })

const login = (accessToken: string, refreshToken: string) => ({ swtb: 1, type: 'login', tokens: { accessToken, refreshToken } })

/** An old version signed in with A1/R1 and a new one about to install, each seeing the other as a worker. */
async function twoVersions(oldScope: FakeScope, newScope: FakeScope, refresh: (context: { refreshToken?: string }) => Promise<TokenSet>) {
	const events: BrokerEvent[] = []
	createTokenBroker({ refresh }).listen(oldScope)
	createTokenBroker({ refresh, onEvent: (event) => events.push(event) }).listen(newScope)
	await oldScope.send(login('A1', 'R1'))
	const oldWorker: PeerWorker = workerOf(
		() => oldScope,
		() => newWorker,
		'activated',
	)
	const newWorker: PeerWorker = workerOf(
		() => newScope,
		() => oldWorker,
		'installing',
	)
	return { events, oldWorker, newWorker }
}

describe('service-worker host', () => {
	it('answers window clients of its own origin, and ignores other origins and other sources', async () => {
		const scope = new FakeScope()
		createTokenBroker({ refresh: vi.fn(async (): Promise<TokenSet> => ({ accessToken: 'unused' })) }).listen(scope)
		expect(await scope.send(login('A1', 'R1'))).toMatchObject({ type: 'reply', ok: true, snapshot: { accessToken: 'A1' } })
		expect(await scope.send({ swtb: 1, type: 'hello' }, { origin: 'https://evil.test' })).toBe('no reply')
		expect(await scope.send({ swtb: 1, type: 'hello' }, { source: { type: 'worker' } })).toBe('no reply')
		expect(await scope.send({ swtb: 1, type: 'hello' }, { source: null })).toBe('no reply')
		expect(await scope.send(login('EVIL', 'R'), { origin: 'https://evil.test' })).toBe('no reply')
		expect(await scope.send({ swtb: 1, type: 'hello' })).toMatchObject({ ok: true, snapshot: { accessToken: 'A1' } })
	})

	it('ignores messages that are not its protocol and answers malformed ones with a ProtocolError', async () => {
		const scope = new FakeScope()
		createTokenBroker({ refresh: vi.fn(async (): Promise<TokenSet> => ({ accessToken: 'unused' })) }).listen(scope)
		expect(await scope.send({ type: 'SKIP_WAITING' })).toBe('no reply')
		expect(await scope.send('hello')).toBe('no reply')
		expect(await scope.send({ swtb: 1, type: 'login', tokens: {} })).toMatchObject({ ok: false, error: { name: 'ProtocolError' } })
		// A window asking for the whole session is not a peer: it gets an error, never the refresh token.
		const answer = await scope.send({ swtb: 1, type: 'session-request' })
		expect(answer).toMatchObject({ ok: false, error: { name: 'ProtocolError' } })
	})

	it('broadcasts tokens to every window client, never the refresh token', async () => {
		const scope = new FakeScope()
		createTokenBroker({ refresh: vi.fn(async (): Promise<TokenSet> => ({ accessToken: 'unused' })) }).listen(scope)
		// Nothing reaches the tabs while the script starts: in Firefox, a tab messaged by a new version
		// before its install keeps a dead ServiceWorker object for it.
		await new Promise((resolve) => setTimeout(resolve, 50))
		expect(scope.broadcasts).toEqual([])
		await scope.send(login('A1', 'R-secret'))
		const tokens = () => scope.broadcasts.filter((message) => (message as { type?: string }).type === 'token')
		await vi.waitFor(() => expect(tokens()).toHaveLength(1))
		expect(tokens()[0]).toMatchObject({ swtb: 1, type: 'token', snapshot: { accessToken: 'A1' } })
		// Started with open tabs and no session, the worker asked them for a seed first.
		expect(scope.broadcasts[0]).toEqual({ swtb: 1, type: 'seed-request' })
		expect(JSON.stringify(scope.broadcasts)).not.toContain('R-secret')
	})

	it('a new version takes the session over at install; the old one then forwards every request to it', async () => {
		const oldScope = new FakeScope()
		const newScope = new FakeScope()
		const refreshes: Array<string | undefined> = []
		const refresh = vi.fn(async ({ refreshToken }: { refreshToken?: string }): Promise<TokenSet> => {
			refreshes.push(refreshToken)
			return { accessToken: `A${refreshes.length + 1}`, refreshToken: `R${refreshes.length + 1}` }
		})
		const { events, newWorker, oldWorker } = await twoVersions(oldScope, newScope, refresh)
		for (const scope of [oldScope, newScope]) Object.assign(scope.registration, { active: oldWorker, installing: newWorker })

		await newScope.install()
		expect(events).toContainEqual({ type: 'recovered', from: 'peer' })
		expect(await newScope.send({ swtb: 1, type: 'hello' })).toMatchObject({ ok: true, snapshot: { accessToken: 'A1' } })

		// A tab still talking to the old version is answered by the new one, which holds R1.
		const reply = await oldScope.send({ swtb: 1, type: 'refresh', failedToken: 'A1' })
		expect(reply).toMatchObject({ ok: true, snapshot: { accessToken: 'A2' } })
		expect(refreshes).toEqual(['R1'])
		expect(await newScope.send({ swtb: 1, type: 'hello' })).toMatchObject({ snapshot: { accessToken: 'A2' } })
	})

	it('hands over even when the old version learns of its successor only after the first request', async () => {
		const oldScope = new FakeScope()
		const newScope = new FakeScope()
		const refresh = vi.fn(async (): Promise<TokenSet> => ({ accessToken: 'unused' }))
		const { events, newWorker, oldWorker } = await twoVersions(oldScope, newScope, refresh)
		// The browser updates each worker's view of the registration by a task of its own: the new
		// version's request can arrive while the old one does not yet list it as installing.
		Object.assign(newScope.registration, { active: oldWorker, installing: newWorker })
		Object.assign(oldScope.registration, { active: oldWorker, installing: null })
		setTimeout(() => Object.assign(oldScope.registration, { installing: newWorker }), 100)

		await newScope.install()
		expect(events).toContainEqual({ type: 'recovered', from: 'peer' })
		expect(await newScope.send({ swtb: 1, type: 'hello' })).toMatchObject({ ok: true, snapshot: { accessToken: 'A1' } })
	}, 5_000)

	it('hands over in Firefox, where the registration lists the new worker by another object than the message source', async () => {
		const oldScope = new FakeScope()
		const newScope = new FakeScope()
		const refresh = vi.fn(async (): Promise<TokenSet> => ({ accessToken: 'unused' }))
		const { events, newWorker, oldWorker } = await twoVersions(oldScope, newScope, refresh)
		Object.assign(newScope.registration, { active: oldWorker, installing: anotherObjectFor(newWorker) })
		Object.assign(oldScope.registration, { active: anotherObjectFor(oldWorker), installing: anotherObjectFor(newWorker) })

		const started = Date.now()
		await newScope.install()
		expect(events).toContainEqual({ type: 'recovered', from: 'peer' })
		// Answered at once, not after the hand-over limit (a minute with the default refreshTimeoutMs).
		expect(Date.now() - started).toBeLessThan(1_000)
		expect(await newScope.send({ swtb: 1, type: 'hello' })).toMatchObject({ ok: true, snapshot: { accessToken: 'A1' } })
	}, 5_000)

	it('hands the session only to a worker of its registration: never to a window, another script or a worker in another state', async () => {
		const scope = new FakeScope()
		createTokenBroker({ refresh: vi.fn(async (): Promise<TokenSet> => ({ accessToken: 'unused' })) }).listen(scope)
		await scope.send(login('A1', 'R-secret'))
		const installing = { scriptURL: SCRIPT_URL, state: 'installing', postMessage: () => undefined }
		Object.assign(scope.registration, { active: { ...installing, state: 'activated' }, installing })
		const askAs = (source: unknown) => scope.send({ swtb: 1, type: 'session-request' }, { source })

		for (const impostor of [
			{ ...WINDOW, scriptURL: SCRIPT_URL, state: 'installing', postMessage: () => undefined },
			{ ...installing, scriptURL: `${ORIGIN}/evil-sw.js` },
			{ ...installing, state: 'installed' },
		])
			expect(JSON.stringify(await askAs(impostor))).not.toContain('R-secret')
		expect(JSON.stringify(await askAs({ ...installing }))).toContain('R-secret')
	})
})

type Version = 'v1' | 'v2' | 'v3'
type Slot = 'active' | 'waiting' | 'installing'

/**
 * Three versions of one registration, each with its own scope and its own view of the others, as
 * a worker sees them: a message posted through a worker object arrives with the poster as source.
 * `sources: 'snapshot'` is Firefox's shape: a message's source is an object of its own, whose state
 * stays what it was when the message came; only the registration's objects follow the worker.
 */
class Deployment {
	constructor(readonly sources: 'live' | 'snapshot' = 'live') {
		for (const name of Object.keys(this.scopes) as Version[]) {
			const registration = this.scopes[name].registration
			for (const slot of ['active', 'waiting', 'installing'] as const) {
				Object.defineProperty(registration, slot, { get: () => (this.slots[slot] === null ? null : this.view(name, this.slots[slot])) })
			}
		}
	}

	readonly scopes: Record<Version, FakeScope> = { v1: new FakeScope(), v2: new FakeScope(), v3: new FakeScope() }
	readonly states: Record<Version, string> = { v1: 'activated', v2: 'parsed', v3: 'parsed' }
	readonly slots: Record<Slot, Version | null> = { active: 'v1', waiting: null, installing: null }
	readonly #views = new Map<string, PeerWorker>()

	/** Worker `of` as seen from scope `from`. */
	view(from: Version, of: Version): PeerWorker {
		const key = `${from}>${of}`
		let worker = this.#views.get(key)
		if (worker === undefined) {
			const states = this.states
			worker = {
				scriptURL: SCRIPT_URL,
				get state() {
					return states[of]
				},
				postMessage: (data, transfer) => void this.scopes[of].dispatch(data, this.sourceOf(of, from), (transfer ?? []) as MessagePort[]),
			}
			this.#views.set(key, worker)
		}
		return worker
	}

	/** Worker `of` as the source of a message that arrives at scope `at`. */
	sourceOf(at: Version, of: Version): PeerWorker {
		const live = this.view(at, of)
		return this.sources === 'live' ? live : { scriptURL: live.scriptURL, state: live.state, postMessage: live.postMessage }
	}

	/** `version` installs (taking the session from its predecessor) and waits: no skipWaiting, as vite-plugin-pwa's prompt strategy. */
	async installAndWait(version: Version): Promise<void> {
		const replaced = this.slots.waiting
		this.slots.installing = version
		this.states[version] = 'installing'
		await this.scopes[version].install()
		this.slots.installing = null
		this.slots.waiting = version
		this.states[version] = 'installed'
		if (replaced !== null) this.states[replaced] = 'redundant'
	}
}

describe('version hand-over', () => {
	const rotating = () => {
		const refreshes: Array<string | undefined> = []
		const refresh = vi.fn(async ({ refreshToken }: { refreshToken?: string }): Promise<TokenSet> => {
			refreshes.push(refreshToken)
			return { accessToken: `A${refreshes.length + 1}`, refreshToken: `R${refreshes.length + 1}` }
		})
		return { refreshes, refresh }
	}
	const refreshFrom = (scope: FakeScope, failedToken: string) => scope.send({ swtb: 1, type: 'refresh', failedToken })

	async function signedInWithWaitingV2(refresh: (context: { refreshToken?: string }) => Promise<TokenSet>, sources: 'live' | 'snapshot' = 'live') {
		const deployment = new Deployment(sources)
		for (const scope of Object.values(deployment.scopes)) createTokenBroker({ refresh }).listen(scope)
		await deployment.scopes.v1.send(login('A1', 'R1'))
		await deployment.installAndWait('v2')
		return deployment
	}

	it('a window asking the handed-over worker for the session gets an error, never the refresh token', async () => {
		const { refresh } = rotating()
		const { scopes } = await signedInWithWaitingV2(refresh)
		expect(await scopes.v2.send({ swtb: 1, type: 'hello' }, { source: WINDOW })).toMatchObject({ ok: true, snapshot: { accessToken: 'A1' } })

		const answer = await scopes.v1.send({ swtb: 1, type: 'session-request' })
		expect(JSON.stringify(answer)).not.toContain('R1')
		expect(answer).toMatchObject({ ok: false, error: { name: 'ProtocolError' } })
	})

	it.each(['live', 'snapshot'] as const)('a third version gets the session its waiting predecessor rotated, not the frozen copy of the active one (message sources: %s)', async (sources) => {
		const { refresh, refreshes } = rotating()
		const deployment = await signedInWithWaitingV2(refresh, sources)
		const { v1 } = deployment.scopes
		// A tab talks to its controller, v1; the live session is v2's, which rotates R1 into R2.
		expect(await refreshFrom(v1, 'A1')).toMatchObject({ ok: true, snapshot: { accessToken: 'A2' } })

		await deployment.installAndWait('v3')
		expect(await refreshFrom(v1, 'A2')).toMatchObject({ ok: true, snapshot: { accessToken: 'A3' } })
		expect(refreshes).toEqual(['R1', 'R2'])
	})

	it('a worker never passes a request back to the worker it came from: two that handed over to each other cannot loop', async () => {
		const { refresh, refreshes } = rotating()
		const deployment = await signedInWithWaitingV2(refresh)
		// v3 asked v1, which asked v2 for the live session: v2 handed it to v1, and v1 to v3.
		await deployment.installAndWait('v3')
		const { v2 } = deployment.scopes
		// A request v1 relayed to v2 before it learned of v3.
		const answer = await v2.send({ swtb: 1, type: 'refresh', failedToken: 'A1' }, { source: deployment.view('v2', 'v1') })
		expect(answer).toMatchObject({ ok: false, error: { name: 'RefreshUnavailableError' } })
		expect(refreshes).toEqual([])
	})

	it('a successor lost after it refreshed leaves the old worker without its frozen copy: R1 is never presented again', async () => {
		const { refresh, refreshes } = rotating()
		const deployment = await signedInWithWaitingV2(refresh)
		const { v1 } = deployment.scopes
		expect(await refreshFrom(v1, 'A1')).toMatchObject({ ok: true, snapshot: { accessToken: 'A2' } })
		// v2 fails (an install step after the hand-over, or it is replaced and dropped): R2 is gone with it.
		deployment.states.v2 = 'redundant'
		deployment.slots.waiting = null

		const afterLoss = await refreshFrom(v1, 'A2')
		expect(JSON.stringify(afterLoss)).not.toContain('"A1"')
		await refreshFrom(v1, 'A1')
		expect(refreshes.filter((token) => token === 'R1')).toHaveLength(1)
	})
})

describe('service-worker host options', () => {
	it("acceptLogin: false answers a tab's login with a LoginFailedError", async () => {
		const scope = new FakeScope()
		createTokenBroker({ refresh: vi.fn(async (): Promise<TokenSet> => ({ accessToken: 'unused' })), acceptLogin: false }).listen(scope)
		expect(await scope.send(login('INJECTED', 'R'))).toMatchObject({ ok: false, error: { name: 'LoginFailedError' } })
		expect(await scope.send({ swtb: 1, type: 'hello' })).toMatchObject({ ok: true, snapshot: { accessToken: null } })
	})
})
