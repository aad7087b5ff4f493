import { LoggedOutError } from '../core/errors/logged-out-error.js'
import { type BrokerRequest, MAX_WAIT_MS, type TokenSnapshot } from '../core/protocol.js'
import type { TabEvent, TabStore } from './tab-store.js'

/** A tab's refreshes: all its requests waiting on the same refresh share one message to the broker. */
export interface RefreshCoalescing {
	/**
	 * A request sent with `failedToken` was refused: the broker refreshes once, or returns a newer
	 * token it already has. `early`: nothing was refused, the token is only due for renewal.
	 */
	after(failedToken: string | null, early?: boolean): Promise<TokenSnapshot>
	/** Whether `token` was refused and its refresh is under way: new requests wait for it rather than send it again. */
	refused(token: string): boolean
	/** The session ended: whoever waits hears it now, not when the broker's answer comes. */
	end(error: LoggedOutError): void
}

export function refreshCoalescing(
	send: (message: BrokerRequest) => Promise<TokenSnapshot>,
	store: TabStore,
	options: { timeoutMs: number; now: () => number; onEvent: ((event: TabEvent) => void) | undefined; onLoggedOut: (error: LoggedOutError) => void },
): RefreshCoalescing {
	const { now, onEvent, timeoutMs } = options
	// How long the broker may take, of the page's own limit: a share of it, so a small timeoutMs still
	// leaves the refresh time, and at most a second less, so a refusal (with its retryAt) reaches the
	// page before the page's own BrokerTimeoutError.
	const waitMs = Math.min(MAX_WAIT_MS, Math.floor(timeoutMs - Math.min(1_000, timeoutMs / 10)))
	/** `refused`: a request was refused with failedToken (the refresh is not an early or forced one). */
	let pending: { failedToken: string | null; refused: boolean; result: Promise<TokenSnapshot>; end: (error: LoggedOutError) => void } | null = null
	return {
		after(failedToken, early) {
			if (pending?.failedToken === failedToken) return pending.result
			const { snapshot } = store
			// This tab already holds a newer token (the refresh reached it as a broadcast): no message needed.
			if (failedToken !== null && snapshot.accessToken !== null && snapshot.accessToken !== failedToken) return Promise.resolve(snapshot)
			let end!: (error: LoggedOutError) => void
			// A logout broadcast can arrive before the broker's reply: it ends the wait at once.
			const ended = new Promise<never>((_, reject) => {
				end = reject
			})
			const started = now()
			const waited = (outcome: string) => onEvent?.({ type: 'refresh-wait', outcome, durationMs: now() - started })
			// The tab's generation: a broker behind it (restarted, and seeded by a tab with an older
			// token) refreshes, where its own older snapshot would only be refused again.
			const result = Promise.race([send({ type: 'refresh', failedToken, waitMs, generation: snapshot.generation }), ended])
				.then(
					(next) => {
						waited('ok')
						return store.apply(next)
					},
					(error: unknown) => {
						waited(error instanceof Error ? error.name : 'Error')
						if (error instanceof LoggedOutError) options.onLoggedOut(error)
						throw error
					},
				)
				.finally(() => {
					if (pending?.result === result) pending = null
				})
			pending = { failedToken, refused: !early, result, end }
			return result
		},

		refused: (token) => pending !== null && pending.refused && pending.failedToken === token,

		end(error) {
			pending?.end(error)
		},
	}
}
