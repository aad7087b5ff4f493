/** How long onLogout waits for this tab's requests in flight: a slow upload must not keep a logged-out page. */
export const LOGOUT_SETTLE_MS = 1_000

/**
 * Holds onLogout back until the tab's requests in flight have settled, so each caller hears its
 * own LoggedOutError before the page navigates away. Requests belong to the session they started
 * in: one that outlives the wait never holds back the logout of a later session.
 */
export interface LogoutGate {
	/** A new session began: a deferred onLogout of the previous one is called off, and new requests count for this one. */
	begin(): void
	track<T>(request: Promise<T>): Promise<T>
	/** Runs `run` once this session's requests have settled (LOGOUT_SETTLE_MS at most), unless a new session began meanwhile. */
	afterRequests(run: () => void): void
	close(): void
}

export function logoutGate(): LogoutGate {
	let session = 0
	const inFlight = new Map<number, Set<Promise<unknown>>>()
	const timers = new Set<ReturnType<typeof setTimeout>>()
	const later = (run: () => void, ms: number) => {
		const timer = setTimeout(() => {
			timers.delete(timer)
			run()
		}, ms)
		timers.add(timer)
		return timer
	}
	return {
		begin() {
			session += 1
		},
		track(request) {
			const mine = session
			let requests = inFlight.get(mine)
			if (requests === undefined) inFlight.set(mine, requests = new Set())
			requests.add(request)
			const settled = () => {
				requests.delete(request)
				if (requests.size === 0) inFlight.delete(mine)
			}
			request.then(settled, settled)
			return request
		},
		afterRequests(run) {
			const mine = session
			const go = () => {
				if (session === mine) run()
			}
			const pending = inFlight.get(mine)
			if (pending === undefined) return go()
			const timer = later(go, LOGOUT_SETTLE_MS)
			// A macrotask after they settle, so each request's rejection has reached its caller first.
			void Promise.allSettled(pending).then(() => {
				if (!timers.delete(timer)) return
				clearTimeout(timer)
				later(go, 0)
			})
		},
		close() {
			session += 1
			for (const timer of timers) clearTimeout(timer)
			timers.clear()
		},
	}
}
