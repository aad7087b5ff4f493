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
	/** The current session's requests in flight; each session has a set of its own. */
	let current = new Set<Promise<unknown>>()
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
			current = new Set()
		},
		track(request) {
			const requests = current
			requests.add(request)
			const settled = () => requests.delete(request)
			request.then(settled, settled)
			return request
		},
		afterRequests(run) {
			const pending = current
			const go = () => {
				if (current === pending) run()
			}
			if (pending.size === 0) return go()
			const timer = later(go, LOGOUT_SETTLE_MS)
			// A macrotask after they settle, so each request's rejection has reached its caller first.
			void Promise.allSettled(pending).then(() => {
				if (!timers.delete(timer)) return
				clearTimeout(timer)
				later(go, 0)
			})
		},
		close() {
			current = new Set()
			for (const timer of timers) clearTimeout(timer)
			timers.clear()
		},
	}
}
