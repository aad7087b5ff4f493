import { BrokerCore } from '../../src/core/broker-core.js'
import type { DPoPKeys } from '../../src/core/dpop/key-ring.js'
import { deferred } from '../core/helpers.js'
import { BrokerTimeoutError } from '../../src/core/errors/broker-timeout-error.js'
import { deserializeError, serializeError } from '../../src/core/errors/serialize.js'
import type { RefreshContext, RefreshFunction } from '../../src/core/refresh-function.js'
import type { SignInFlow } from '../../src/core/oidc/sign-in-flow.js'
import { type BrokerBroadcast, type BrokerReply, type BrokerRequest, type LogoutReason, type TokenSet, type TokenSnapshot, envelope } from '../../src/core/protocol.js'
import { parseRequest } from '../../src/core/parse-message.js'
import { readBrokerMessage } from '../../src/transports/broker-message.js'
import { type TokenClient, clientOver } from '../../src/create-token-client.js'
import { type TabSession, tabSession } from '../../src/session/tab-session.js'
import type { BrokerConnection } from '../../src/transports/connection.js'

export const APP = 'http://app.test'
export const authorize = (url: URL) => url.origin === APP

/**
 * One process holding what is spread over a worker and several tabs in a browser: a real
 * BrokerCore, and per tab a BrokerConnection that sends every message through the protocol
 * (envelope, structured clone, parse) and delivers broadcasts asynchronously to every tab.
 */
export class FakeWorld {
	readonly clock = { now: 1_700_000_000_000 }
	/** The token the API accepts; the refresh function moves it on. */
	validToken: string | null = null
	refreshCalls: RefreshContext[] = []
	/** What the next refresh does; default: issue a new token and make the API accept it. */
	refreshBehaviour: (context: RefreshContext) => Promise<TokenSet> = async () => this.issue()
	/** Broker messages by type, for counting. */
	readonly messages: BrokerRequest[] = []
	readonly #connections = new Set<Set<(message: BrokerBroadcast) => void>>()
	#issued = 0
	core: BrokerCore
	/** While set, the broker takes no message: every request of a tab runs into its time limit. */
	unreachable = false
	/** Broadcasts held back by holdBroadcasts(), in order. */
	#held: Array<() => void> | null = null
	#requestsHeld: Promise<void> | null = null
	readonly #refreshTimeoutMs: number
	readonly #signIn: SignInFlow | undefined

	/**
	 * `signIn`: the sign-in flow the refresh preset brings (openIdProvider's, or a fake of it).
	 * `dpop`: the broker binds what it issues to this key ring's key (token_type DPoP).
	 */
	constructor(
		refreshTimeoutMs = 2_000,
		signIn?: SignInFlow,
		readonly dpop?: DPoPKeys,
	) {
		this.#refreshTimeoutMs = refreshTimeoutMs
		this.#signIn = signIn
		this.core = this.#newCore()
	}

	/** The worker stopped and started again: a new broker with nothing in memory. */
	restart(): void {
		this.core = this.#newCore()
	}

	/** Holds every request that arrives from now on until the returned function is called, as a busy or stopped worker would. */
	holdRequests(): () => void {
		const gate = deferred<void>()
		this.#requestsHeld = gate.promise
		return () => {
			this.#requestsHeld = null
			gate.resolve()
		}
	}

	/** Holds every broadcast until the returned function is called, so replies reach tabs first. */
	holdBroadcasts(): () => void {
		const held: Array<() => void> = []
		this.#held = held
		return () => {
			this.#held = null
			for (const deliver of held) deliver()
		}
	}

	#newCore(): BrokerCore {
		const refreshTimeoutMs = this.#refreshTimeoutMs
		const refresh: RefreshFunction = (context) => {
			this.refreshCalls.push(context)
			return this.refreshBehaviour(context)
		}
		if (this.#signIn !== undefined) refresh.signIn = this.#signIn
		return new BrokerCore({
			...(this.dpop === undefined ? {} : { dpop: this.dpop }),
			refresh,
			exchange: async () => {
				const { accessToken, tokenType } = this.issue()
				return tokenType === undefined ? { accessToken } : { accessToken, tokenType }
			},
			exchangeUrls: (url) => url.origin === APP,
			origin: APP,
			broadcast: (message) => this.#broadcast(message),
			now: () => this.clock.now,
			random: () => 0.5,
			refreshTimeoutMs,
		})
	}

	issue(extra: Partial<TokenSet> = {}): TokenSet {
		this.#issued += 1
		const accessToken = `access-${this.#issued}`
		this.validToken = accessToken
		return { accessToken, refreshToken: `refresh-${this.#issued}`, ...(this.dpop === undefined ? {} : { tokenType: 'DPoP' }), ...extra }
	}

	#broadcast(message: BrokerBroadcast): void {
		const wire = structuredClone(envelope(message))
		const deliver = () =>
			setTimeout(() => {
				const parsed = readBrokerMessage(wire)
				if (parsed.kind !== 'ok' || parsed.message.type === 'reply') throw new Error(`bad broadcast ${JSON.stringify(wire)}`)
				for (const listeners of this.#connections) for (const listener of listeners) listener(parsed.message)
			}, 0)
		if (this.#held === null) deliver()
		else this.#held.push(deliver)
	}

	connect(): BrokerConnection {
		const listeners = new Set<(message: BrokerBroadcast) => void>()
		this.#connections.add(listeners)
		return {
			request: (message, timeoutMs) => this.#request(message, timeoutMs),
			onBroadcast: (listener) => {
				listeners.add(listener)
				return () => listeners.delete(listener)
			},
			close: () => {
				this.#connections.delete(listeners)
			},
		}
	}

	async #request(message: BrokerRequest, timeoutMs: number): Promise<TokenSnapshot> {
		if (this.#requestsHeld !== null) await this.#requestsHeld
		const parsed = parseRequest(structuredClone(envelope(message)))
		if (parsed.kind !== 'ok') throw new Error(`the page sent a message the broker does not accept: ${JSON.stringify(message)}`)
		this.messages.push(parsed.message)
		const answer: Promise<BrokerReply> = this.unreachable
			? new Promise(() => undefined)
			: this.core.handle(parsed.message).then(
					(snapshot): BrokerReply => ({ type: 'reply', ok: true, snapshot }),
					(error: unknown): BrokerReply => ({ type: 'reply', ok: false, error: serializeError(error) }),
				)
		let timer: ReturnType<typeof setTimeout> | undefined
		const timeout = new Promise<never>((_, reject) => {
			timer = setTimeout(() => reject(new BrokerTimeoutError(message.type, timeoutMs)), timeoutMs)
		})
		try {
			const reply = readBrokerMessage(structuredClone(envelope(await Promise.race([answer, timeout]))))
			if (reply.kind !== 'ok' || reply.message.type !== 'reply') throw new Error('bad reply')
			if (reply.message.ok) return reply.message.snapshot
			throw deserializeError(reply.message.error)
		} finally {
			clearTimeout(timer)
		}
	}

	count(type: BrokerRequest['type']): number {
		return this.messages.filter((m) => m.type === type).length
	}
}

export interface TabClient {
	session: TabSession
	client: TokenClient
	logouts: LogoutReason[]
}

/** A tab of the world: its session and the client around it, with the onLogout calls it saw. */
export function openClient(world: FakeWorld, options: { refreshAheadMs?: number; timeoutMs?: number } = {}): TabClient {
	const logouts: LogoutReason[] = []
	const session = tabSession(world.connect(), {
		onLogout: (reason) => logouts.push(reason),
		now: () => world.clock.now,
		...options,
	})
	const client = clientOver(session, Promise.resolve('service-worker'), { authorize, keepAliveMs: false })
	openClients.push(client)
	return { session, client, logouts }
}

const openClients: TokenClient[] = []

/** For afterEach: closes every client the test opened. */
export function closeClients(): void {
	for (const client of openClients.splice(0)) client.close()
}

export function errorOf(promise: Promise<unknown>): Promise<unknown> {
	return promise.then(
		() => {
			throw new Error('expected a rejection')
		},
		(error: unknown) => error,
	)
}

/** Keeps a fake API's requests "on the wire" until released: `passed()` is awaited by each request. */
export function wire() {
	let hold: Promise<void> | null = null
	return {
		passed: () => hold ?? Promise.resolve(),
		/** Holds every request on the wire until the returned function is called. */
		holdRequests(): () => void {
			const gate = deferred<void>()
			hold = gate.promise
			return () => {
				hold = null
				gate.resolve()
			}
		},
	}
}
