import { BrokerCore, type SessionStore } from '../src/core/broker-core.js'
import { serializeError } from '../src/core/errors/serialize.js'
import { defaultExchangeUrls, performExchange } from '../src/core/exchange.js'
import type { RefreshFunction } from '../src/core/presets.js'
import { type BrokerBroadcast, type BrokerReply, envelope, parseRequest } from '../src/core/protocol.js'
import { openIndexedDbStore } from './indexeddb-store.js'

export interface TokenBrokerOptions {
	refresh: RefreshFunction
	/** 'memory' (default) keeps the refresh token out of every store page script can read. */
	persist?: 'memory' | 'indexeddb'
	refreshTimeoutMs?: number
	/** Which URLs exchange() may call. Default: the worker's origin and the refresh preset's token endpoint. */
	exchangeUrls?: (url: URL) => boolean
}

/** The parts of a message event the host uses; ExtendableMessageEvent has them all. */
export interface BrokerMessageEvent {
	readonly data: unknown
	readonly origin: string
	readonly source: unknown
	readonly ports: ReadonlyArray<{ postMessage(message: unknown): void }>
	waitUntil(promise: Promise<unknown>): void
}

/** The parts of ServiceWorkerGlobalScope the host uses. */
export interface BrokerScope {
	readonly location: { readonly origin: string }
	readonly clients: {
		matchAll(options: { type: 'window'; includeUncontrolled: true }): Promise<ReadonlyArray<{ postMessage(message: unknown): void }>>
	}
	addEventListener(type: 'message', listener: (event: BrokerMessageEvent) => void): void
	removeEventListener(type: 'message', listener: (event: BrokerMessageEvent) => void): void
}

export interface TokenBroker {
	/** Installs the message handler on the worker scope; returns a function that removes it. */
	listen(scope: BrokerScope): () => void
}

function isWindowClient(source: unknown): boolean {
	return typeof source === 'object' && source !== null && (source as { type?: unknown }).type === 'window'
}

export function createTokenBroker(options: TokenBrokerOptions): TokenBroker {
	return {
		listen(scope) {
			const origin = scope.location.origin
			let broadcasting: Promise<unknown> = Promise.resolve()
			// includeUncontrolled reaches tabs opened with a hard reload, which this worker does not control.
			const broadcast = (message: BrokerBroadcast) => {
				broadcasting = scope.clients.matchAll({ type: 'window', includeUncontrolled: true })
					.then((clients) => {
						for (const client of clients) client.postMessage(envelope(message))
					})
					.catch(() => undefined)
			}
			const store: SessionStore | undefined = options.persist === 'indexeddb' ? openIndexedDbStore() : undefined
			const core = new BrokerCore({
				refresh: options.refresh,
				exchange: performExchange,
				exchangeUrls: options.exchangeUrls ?? defaultExchangeUrls(origin, options.refresh.tokenEndpoint),
				origin,
				broadcast,
				...(options.refreshTimeoutMs === undefined ? {} : { refreshTimeoutMs: options.refreshTimeoutMs }),
				...(store === undefined ? {} : { store }),
			})

			const onMessage = (event: BrokerMessageEvent) => {
				if (event.origin !== origin || !isWindowClient(event.source)) return
				const parsed = parseRequest(event.data)
				if (parsed.kind === 'ignore') return
				const port = event.ports[0]
				const reply = (message: BrokerReply) => port?.postMessage(envelope(message))
				if (parsed.kind === 'invalid') {
					reply({ type: 'reply', ok: false, error: serializeError(parsed.error) })
					return
				}
				// waitUntil keeps the worker alive until the refresh, its broadcast and the reply are done.
				event.waitUntil(core.handle(parsed.message).then(
					(snapshot) => reply({ type: 'reply', ok: true, snapshot }),
					(error: unknown) => reply({ type: 'reply', ok: false, error: serializeError(error) }),
				).then(() => broadcasting))
			}
			scope.addEventListener('message', onMessage)
			return () => scope.removeEventListener('message', onMessage)
		},
	}
}
