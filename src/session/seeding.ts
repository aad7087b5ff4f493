import type { BrokerRequest, TokenSnapshot } from '../core/protocol.js'
import type { TabStore } from './tab-store.js'

/**
 * A broker that lost its memory (a stopped worker in memory mode) gets the session back from a
 * tab that still holds its access token, with its expiry and receipt time, so the lifetime caps
 * of refresh-ahead (spec 16) hold after the restart too.
 */
export interface Seeding {
	/** Seeds the broker with this tab's token, when it holds one. */
	seed(): Promise<void>
	/** The keep-alive ping: it also finds a broker that lost the session this tab still holds, and seeds it. */
	ping(): Promise<void>
}

export function seeding(send: (message: BrokerRequest) => Promise<TokenSnapshot>, store: TabStore): Seeding {
	const seed = async () => {
		const { snapshot } = store
		// The snapshot's expiresAt, issuedAt and generation are the seed's fields.
		if (snapshot.accessToken !== null) store.apply(await send({ ...snapshot, type: 'seed', accessToken: snapshot.accessToken }))
	}
	return {
		seed,
		async ping() {
			const answer = await send({ type: 'ping' })
			if (answer.accessToken !== null || answer.generation >= store.snapshot.generation) store.apply(answer)
			else await seed()
		},
	}
}
