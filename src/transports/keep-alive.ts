const KEEP_ALIVE_LOCK = 'sw-token-broker:keep-alive'

/** Browsers stop a worker 30 s after its last event; a ping every 20 s keeps a memory-only session alive. */
export const DEFAULT_KEEP_ALIVE_MS = 20_000

/**
 * Pings the broker while this tab is open. Sparse: the tab holding a Web Lock pings and the
 * others queue on it, so one open tab is enough and many tabs do not keep a busy worker from
 * handing over to a new version. Only a visible tab holds the lock: a hidden tab's timers run
 * about once a minute in Chromium after five minutes, too seldom for a worker that stops after
 * 30 s idle, so a tab that goes out of view hands the lock on. A hidden tab pings only while no
 * visible tab holds it, taking it for that one ping. Stops when `signal` aborts.
 */
export function keepAlive(ping: () => Promise<unknown>, intervalMs: number, signal: AbortSignal): void {
	const locks = globalThis.navigator?.locks
	const document = globalThis.document as Document | undefined
	/** Runs `once` every interval until `until` aborts. */
	const every = (until: AbortSignal, once: () => Promise<unknown> = ping) => {
		const timer = setInterval(() => void once().catch(() => undefined), intervalMs)
		until.addEventListener('abort', () => clearInterval(timer))
	}
	if (locks === undefined) return every(signal)
	/** Aborted when the tab's visibility changes or it closes: it leaves the queue, or lets the lock go. */
	let mode = new AbortController()
	const follow = () => {
		mode.abort()
		mode = new AbortController()
		const left = mode.signal
		if (document?.visibilityState === 'hidden') every(left, () => locks.request(KEEP_ALIVE_LOCK, { ifAvailable: true }, (lock) => lock && ping()))
		// Left between the grant and this call (hidden, closed): the lock goes at once.
		else
			locks
				.request(KEEP_ALIVE_LOCK, { signal: left }, () =>
					left.aborted
						? undefined
						: new Promise((resolve) => {
								every(left)
								left.addEventListener('abort', resolve)
							}),
				)
				.catch(() => undefined)
	}
	follow()
	document?.addEventListener('visibilitychange', follow, { signal })
	signal.addEventListener('abort', () => mode.abort())
}
