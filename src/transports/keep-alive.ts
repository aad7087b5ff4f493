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
	const send = () => void ping().catch(() => undefined)
	const every = (run: () => void) => {
		const timer = setInterval(run, intervalMs)
		return () => clearInterval(timer)
	}
	const locks = globalThis.navigator?.locks
	const document = globalThis.document as Document | undefined
	if (locks === undefined) {
		signal.addEventListener('abort', every(send))
		return
	}
	const holdWhileVisible = () => {
		const leave = new AbortController()
		// Aborting takes the tab out of the queue; once the lock is held it is the promise that lets go.
		locks.request(KEEP_ALIVE_LOCK, { signal: leave.signal }, () => {
			// Left (hidden, closed) between the grant and this call: let go at once.
			if (leave.signal.aborted) return undefined
			const stop = every(send)
			return new Promise<void>((resolve) => leave.signal.addEventListener('abort', () => {
				stop()
				resolve()
			}))
		}).catch(() => undefined)
		return () => leave.abort()
	}
	const pingWhileNobodyVisible = () => every(() => {
		locks.request(KEEP_ALIVE_LOCK, { ifAvailable: true }, (lock) => lock === null ? undefined : ping()).catch(() => undefined)
	})
	const isVisible = () => document?.visibilityState !== 'hidden'
	let visible = isVisible()
	let leave = visible ? holdWhileVisible() : pingWhileNobodyVisible()
	document?.addEventListener('visibilitychange', () => {
		if (isVisible() === visible) return
		visible = !visible
		leave()
		leave = visible ? holdWhileVisible() : pingWhileNobodyVisible()
	}, { signal })
	signal.addEventListener('abort', () => leave())
}
