import { ProtocolError } from '../core/errors/protocol-error.js'
import { type BrokerBroadcast, type BrokerReply, PROTOCOL_VERSION, type Parsed } from '../core/protocol.js'

const TYPES: ReadonlySet<unknown> = new Set(['reply', 'token', 'logout', 'seed-request'])

/**
 * What a page accepts from its broker. Only the page's own service worker (same origin, same
 * build) posts to navigator.serviceWorker, so the version and the type are checked, not every
 * field again: the worker validates what it acts on, at the trust boundary.
 */
export function readBrokerMessage(data: unknown): Parsed<BrokerReply | BrokerBroadcast> {
	const { swtb, type } = (typeof data === 'object' && data !== null ? data : {}) as { swtb?: unknown; type?: unknown }
	if (swtb === undefined) return { kind: 'ignore' }
	if (swtb !== PROTOCOL_VERSION || !TYPES.has(type)) {
		return {
			kind: 'invalid',
			error: new ProtocolError(`this page does not read ${typeof type === 'string' ? `"${type.slice(0, 40)}"` : typeof type} of protocol ${typeof swtb === 'number' ? swtb : typeof swtb}`),
		}
	}
	return { kind: 'ok', message: data as BrokerReply | BrokerBroadcast }
}
