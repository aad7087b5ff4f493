import type { BrokerConnection } from './connection.js'
import { deserializeError } from '../core/errors/serialize.js'
import { type BrokerBroadcast, type BrokerRequest, type TokenSnapshot, envelope } from '../core/protocol.js'
import { readBrokerMessage } from './broker-message.js'
import { brokerTimeLimit } from '../core/time-limit.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Talks to the registration's active worker over a fresh MessageChannel per request, never to
 * `navigator.serviceWorker.controller`: a hard-reloaded tab has no controller but the active
 * worker still answers it. A worker that became redundant (replaced, or lost a race between
 * tabs registering at once, as Firefox shows) drops messages silently, so it is never used:
 * the registration is read again until it has a live active worker.
 */
export function connectServiceWorker(container: ServiceWorkerContainer, registration: ServiceWorkerRegistration): BrokerConnection {
	const listeners = new Set<(message: BrokerBroadcast) => void>()
	const onMessage = (event: MessageEvent) => {
		const parsed = readBrokerMessage(event.data)
		if (parsed.kind !== 'ok' || parsed.message.type === 'reply') return
		for (const listener of listeners) listener(parsed.message)
	}
	container.addEventListener('message', onMessage)
	// Messages to the container are queued until this is called (or onmessage is set).
	container.startMessages()

	let current = registration
	const activeWorker = async (deadline: number): Promise<ServiceWorker> => {
		for (let wait = 25; ; wait = Math.min(2 * wait, 400)) {
			const active = current.active
			if (active !== null && active.state !== 'redundant') return active
			if (Date.now() > deadline) throw new Error('no active service worker')
			// An installing worker becomes active through `ready`; a redundant one only shows in a fresh read.
			await (active === null ? Promise.race([sleep(wait), container.ready]) : sleep(wait))
			current = await container.getRegistration(current.scope) ?? current
		}
	}

	return {
		request(message: BrokerRequest, timeoutMs: number): Promise<TokenSnapshot> {
			const channel = new MessageChannel()
			const reply = new Promise<TokenSnapshot>((resolve, reject) => {
				channel.port1.onmessage = (event: MessageEvent) => {
					const parsed = readBrokerMessage(event.data)
					if (parsed.kind === 'ok' && parsed.message.type === 'reply') {
						const answer = parsed.message
						if (answer.ok) resolve(answer.snapshot)
						else reject(deserializeError(answer.error))
					} else if (parsed.kind === 'invalid') {
						reject(parsed.error)
					}
				}
				activeWorker(Date.now() + timeoutMs)
					.then((worker) => worker.postMessage(envelope(message), [channel.port2]))
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
