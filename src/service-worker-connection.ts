import type { BrokerConnection } from './broker-connection.js'
import { BrokerTimeoutError } from './core/errors/broker-timeout-error.js'
import { deserializeError } from './core/errors/serialize.js'
import { type BrokerBroadcast, type BrokerRequest, type TokenSnapshot, envelope, parseBrokerMessage } from './core/protocol.js'

/**
 * Talks to `registration.active` over a fresh MessageChannel per request, never to
 * `navigator.serviceWorker.controller`: a hard-reloaded tab has no controller but the
 * active worker still answers it.
 */
export function connectServiceWorker(container: ServiceWorkerContainer, registration: Promise<ServiceWorkerRegistration>): BrokerConnection {
	const listeners = new Set<(message: BrokerBroadcast) => void>()
	const onMessage = (event: MessageEvent) => {
		const parsed = parseBrokerMessage(event.data)
		if (parsed.kind !== 'ok' || parsed.message.type === 'reply') return
		for (const listener of listeners) listener(parsed.message)
	}
	container.addEventListener('message', onMessage)
	// Messages to the container are queued until this is called (or onmessage is set).
	container.startMessages()

	return {
		request(message: BrokerRequest, timeoutMs: number): Promise<TokenSnapshot> {
			return new Promise((resolve, reject) => {
				const channel = new MessageChannel()
				let settled = false
				const settle = (outcome: () => void) => {
					if (settled) return
					settled = true
					clearTimeout(timer)
					channel.port1.close()
					outcome()
				}
				const timer = setTimeout(() => settle(() => reject(new BrokerTimeoutError(message.type, timeoutMs))), timeoutMs)
				channel.port1.onmessage = (event: MessageEvent) => {
					const parsed = parseBrokerMessage(event.data)
					if (parsed.kind === 'ok' && parsed.message.type === 'reply') {
						const reply = parsed.message
						settle(() => reply.ok ? resolve(reply.snapshot) : reject(deserializeError(reply.error)))
					} else if (parsed.kind === 'invalid') {
						settle(() => reject(parsed.error))
					}
				}
				// A registration handed in may still be installing; `ready` waits for its active worker.
				registration
					.then(async (given) => given.active ?? (await container.ready).active)
					.then((worker) => worker?.postMessage(envelope(message), [channel.port2]))
					.catch((error: unknown) => settle(() => reject(error)))
			})
		},
		onBroadcast(listener) {
			listeners.add(listener)
			return () => listeners.delete(listener)
		},
		close() {
			listeners.clear()
			container.removeEventListener('message', onMessage)
		},
	}
}
