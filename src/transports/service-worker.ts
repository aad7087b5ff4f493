import type { BrokerConnection } from './connection.js'
import { deserializeError } from '../core/errors/serialize.js'
import { type BrokerBroadcast, type BrokerRequest, type TokenSnapshot, envelope } from '../core/protocol.js'
import { readBrokerMessage } from './broker-message.js'
import { brokerTimeLimit } from '../core/time-limit.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Talks to the page's controller, or to the registration's active worker, over a fresh
 * MessageChannel per request: not to the controller alone, since a hard-reloaded tab has none
 * but the active worker still answers it. A worker that became redundant (replaced, or lost a
 * race between tabs registering at once, as Firefox shows) drops messages silently, so it is
 * never used: the registration is read again until it has a live active worker.
 *
 * Each request is a message event with a port of its own, not a message on one long-lived port
 * per tab, though such a port answers about ten times faster (0.04 ms against 0.4 ms in
 * Chromium). A port message is not an event to the worker: it gets no waitUntil, so a refresh
 * it starts may be stopped half-way and a rotated refresh token lost; it does not hold off the
 * 30 s idle stop, so a ping over it would not keep a memory session alive; and once the worker
 * has stopped it is dropped without an error and wakes nothing (seen in Chromium and Firefox).
 * Nor would it buy anything a user waits for: a tab's first request has to open the port anyway,
 * and its later ones are refreshes bound by the network, or the keep-alive ping.
 */
export function connectServiceWorker(container: ServiceWorkerContainer, found: ServiceWorkerRegistration | ServiceWorker): BrokerConnection {
	const listeners = new Set<(message: BrokerBroadcast) => void>()
	const onMessage = (event: MessageEvent) => {
		const parsed = readBrokerMessage(event.data)
		if (parsed.kind !== 'ok' || parsed.message.type === 'reply') return
		for (const listener of listeners) listener(parsed.message)
	}
	container.addEventListener('message', onMessage)
	// Messages to the container are queued until this is called (or onmessage is set).
	container.startMessages()

	// A controlled page starts with its controller, known at once; it reads the registration only
	// once that worker is gone (a reload past the worker gives no controller, so it starts there).
	let current: Pick<ServiceWorkerRegistration, 'active'> & { scope?: string } = 'scope' in found ? found : { active: found }
	const activeWorker = async (deadline: number): Promise<ServiceWorker> => {
		for (let wait = 25; ; wait = Math.min(2 * wait, 400)) {
			const active = current.active
			if (active !== null && active.state !== 'redundant') return active
			if (Date.now() > deadline) throw new Error('no active service worker')
			// An installing worker becomes active through `ready`; a redundant one only shows in a fresh read.
			await (active === null ? Promise.race([sleep(wait), container.ready]) : sleep(wait))
			current = (await container.getRegistration(current.scope)) ?? current
		}
	}

	return {
		request(message: BrokerRequest, timeoutMs: number): Promise<TokenSnapshot> {
			const { port1, port2 } = new MessageChannel()
			const reply = new Promise<TokenSnapshot>((resolve, reject) => {
				port1.onmessage = (event: MessageEvent) => {
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
					.then((worker) => worker.postMessage(envelope(message), [port2]))
					.catch(reject)
			})
			return brokerTimeLimit(reply, timeoutMs, message.type).finally(() => port1.close())
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
