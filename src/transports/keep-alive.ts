const KEEP_ALIVE_LOCK = 'sw-token-broker:keep-alive'

/** Browsers stop a worker 30 s after its last event; a ping every 20 s keeps a memory-only session alive. */
export const DEFAULT_KEEP_ALIVE_MS = 20_000

/**
 * Pings the broker while this tab is open. Sparse: the tab holding a Web Lock pings and the
 * others queue on it, so one open tab is enough and many tabs do not keep a busy worker from
 * handing over to a new version. When the holder closes, the next tab takes the lock.
 */
export function keepAlive(ping: () => Promise<unknown>, intervalMs: number): () => void {
	const stopped = new AbortController()
	let timer: ReturnType<typeof setInterval> | undefined
	const beat = () => {
		timer = setInterval(() => void ping().catch(() => undefined), intervalMs)
	}
	const locks = globalThis.navigator?.locks
	if (locks === undefined) {
		beat()
	} else {
		locks.request(KEEP_ALIVE_LOCK, { signal: stopped.signal }, () => {
			beat()
			return new Promise((resolve) => stopped.signal.addEventListener('abort', resolve))
		}).catch(() => undefined)
	}
	return () => {
		stopped.abort()
		clearInterval(timer)
	}
}
