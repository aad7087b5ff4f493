import { ProtocolError } from '../core/errors/protocol-error.js'
import { type BrokerBroadcast, type BrokerReply, PROTOCOL_VERSION, type Parsed } from '../core/protocol.js'

const TYPES: ReadonlySet<unknown> = new Set(['reply', 'token', 'logout', 'seed-request'])

/**
 * What a page accepts from its broker. Only the page's own service worker (same origin, same
 * build) posts to navigator.serviceWorker, so the version and the type are checked, not every
 * field again: the worker validates what it acts on, at the trust boundary.
 */
export function readBrokerMessage(data: unknown): Parsed<BrokerReply | BrokerBroadcast> {
	if (typeof data !== 'object' || data === null || !('swtb' in data)) return { kind: 'ignore' }
	const { swtb, type } = data as { swtb: unknown; type: unknown }
	if (swtb !== PROTOCOL_VERSION || !TYPES.has(type)) return { kind: 'invalid', error: new ProtocolError(`protocol ${String(swtb).slice(0, 20)} message "${String(type).slice(0, 40)}" is not one this page reads`) }
	return { kind: 'ok', message: data as unknown as BrokerReply | BrokerBroadcast }
}
