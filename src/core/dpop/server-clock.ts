/** What the clock reads from an answer: its headers. A fetch Response has them; so does a shim over an axios response. */
export interface Answer {
	readonly headers: { get(name: string): string | null }
}

/**
 * The servers' time, as their `Date` headers tell it. Proofs carry it in `iat`, so a client
 * clock minutes off still gets them accepted by a server with a window of a minute or less
 * (RFC 9449 §11.1). A Date header counts whole seconds: the middle of its second is the estimate.
 */
export interface ServerClock {
	/** Epoch ms by the servers' clock. */
	now(): number
	/** How far the servers' clock is ahead of the local one (ms; negative: behind). */
	readonly offsetMs: number
	/** Learns the offset from an answer's Date header, received now. */
	observe(answer: Answer): void
}

export function serverClock(offsetMs = 0, localNow: () => number = Date.now): ServerClock {
	let offset = offsetMs
	return {
		now: () => localNow() + offset,
		get offsetMs() {
			return offset
		},
		observe(answer) {
			let date: number
			try {
				date = Date.parse(answer.headers.get('date') ?? '')
			} catch {
				return
			}
			if (Number.isFinite(date)) offset = date + 500 - localNow()
		},
	}
}
