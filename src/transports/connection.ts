import type { BrokerBroadcast, BrokerRequest, TokenSnapshot } from '../core/protocol.js'

/** How a page reaches its broker: the service worker, or the in-page fallback host. */
export interface BrokerConnection {
	/** Settles within timeoutMs: with the broker's snapshot, its typed error, or BrokerTimeoutError. */
	request(message: BrokerRequest, timeoutMs: number): Promise<TokenSnapshot>
	onBroadcast(listener: (message: BrokerBroadcast) => void): () => void
	close(): void
}
