/** How long onLogout waits for this tab's requests in flight: a slow upload must not keep a logged-out page. */
export const LOGOUT_SETTLE_MS = 1_000

/**
 * Holds onLogout back until the tab's requests in flight have settled, so each caller hears its
 * own LoggedOutError before the page navigates away. Requests belong to the session they started
 * in: one that outlives the wait never holds back the logout of a later session.
 */
export class LogoutGate {
	#session = 0
	readonly #inFlight = new Map<number, Set<Promise<unknown>>>()
	readonly #timers = new Set<ReturnType<typeof setTimeout>>()

	/** A new session began: a deferred onLogout of the previous one is called off, and new requests count for this one. */
	begin(): void {
		this.#session += 1
	}

	track<T>(request: Promise<T>): Promise<T> {
		const session = this.#session
		let requests = this.#inFlight.get(session)
		if (requests === undefined) this.#inFlight.set(session, requests = new Set())
		requests.add(request)
		const settled = () => {
			requests.delete(request)
			if (requests.size === 0) this.#inFlight.delete(session)
		}
		request.then(settled, settled)
		return request
	}

	/** Runs `run` once this session's requests have settled (LOGOUT_SETTLE_MS at most), unless a new session began meanwhile. */
	afterRequests(run: () => void): void {
		const session = this.#session
		const go = () => {
			if (this.#session === session) run()
		}
		const pending = this.#inFlight.get(session)
		if (pending === undefined) {
			go()
			return
		}
		let timer = this.#later(go, LOGOUT_SETTLE_MS)
		// A macrotask after they settle, so each request's rejection has reached its caller first.
		void Promise.allSettled(pending).then(() => {
			if (!this.#timers.has(timer)) return
			this.#cancel(timer)
			timer = this.#later(go, 0)
		})
	}

	#later(run: () => void, ms: number): ReturnType<typeof setTimeout> {
		const timer = setTimeout(() => {
			this.#timers.delete(timer)
			run()
		}, ms)
		this.#timers.add(timer)
		return timer
	}

	#cancel(timer: ReturnType<typeof setTimeout>): void {
		clearTimeout(timer)
		this.#timers.delete(timer)
	}

	close(): void {
		this.#session += 1
		for (const timer of this.#timers) this.#cancel(timer)
	}
}
