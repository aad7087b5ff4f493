import type { BrokerConnection } from './connection.js'
import { deserializeError } from '../core/errors/serialize.js'
import { type BrokerBroadcast, type BrokerRequest, type TokenSnapshot, envelope, parseBrokerMessage } from '../core/protocol.js'
import { brokerTimeLimit } from '../core/time-limit.js'

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
			const channel = new MessageChannel()
			const reply = new Promise<TokenSnapshot>((resolve, reject) => {
				channel.port1.onmessage = (event: MessageEvent) => {
					const parsed = parseBrokerMessage(event.data)
					if (parsed.kind === 'ok' && parsed.message.type === 'reply') {
						const answer = parsed.message
						if (answer.ok) resolve(answer.snapshot)
						else reject(deserializeError(answer.error))
					} else if (parsed.kind === 'invalid') {
						reject(parsed.error)
					}
				}
				// A registration handed in may still be installing; `ready` waits for its active worker.
				registration
					.then(async (given) => given.active ?? (await container.ready).active)
					.then((worker) => worker?.postMessage(envelope(message), [channel.port2]))
					.catch(reject)
			})
			return brokerTimeLimit(reply, timeoutMs, message.type).finally(() => channel.port1.close())
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
