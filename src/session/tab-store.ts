import type { LogoutReason, TokenSnapshot } from '../core/protocol.js'
import { type LogoutGate, logoutGate } from './logout-gate.js'

/** Auth state for UIs: a new object only when something in it changes, as useSyncExternalStore needs. */
export interface ClientState {
	readonly status: 'connecting' | 'signed-in' | 'signed-out'
	readonly expiresAt?: number
	/** The ID token's claims, when the session came from signIn(). */
	readonly user?: Record<string, unknown>
}

/** What `client.subscribe` listeners receive. Switch on `type`: more may come. */
export type TokenEvent =
	| { type: 'token'; accessToken: string; expiresAt?: number }
	| { type: 'logout'; reason: LogoutReason }
	/** `client.state` changed; sent after the token or logout event that changed it, and alone when the first sync finds no session. */
	| { type: 'state'; state: ClientState }

/** What a tab reports for telemetry, besides the broker's own events in the in-page host. */
export type TabEvent =
	| { type: 'connected'; host: 'service-worker' | 'in-page' | 'none' }
	/** How long this tab waited for a fresh token, and how that ended ('ok' or the error's name). */
	| { type: 'refresh-wait'; outcome: string; durationMs: number }
	| { type: 'session-ended'; reason: LogoutReason }

const CONNECTING: ClientState = { status: 'connecting' }
const SIGNED_OUT: ClientState = { status: 'signed-out' }

/**
 * What a tab knows of the session, and who hears of its changes: the snapshot last adopted (the
 * held token among it), the state for UIs, the listeners, and the onLogout wait.
 */
export interface TabStore {
	readonly snapshot: TokenSnapshot
	readonly state: ClientState
	readonly gate: LogoutGate
	/** Adopts a snapshot unless this tab already has a newer one (broadcasts and replies race); returns the one held. */
	apply(next: TokenSnapshot): TokenSnapshot
	/**
	 * Ends the session as of `generation`, unless this tab is past it already; `ending` runs first,
	 * before anyone hears of it. `leave`, once the requests settled, in place of onLogout.
	 */
	end(reason: LogoutReason, generation: number, ending: () => void, leave?: () => void): void
	/** The first sync is over: a tab that found no session says so. */
	synced(): void
	subscribe(listener: (event: TokenEvent) => void): () => void
	close(): void
}

export function tabStore(onLogout: (reason: LogoutReason) => void, onEvent: ((event: TabEvent) => void) | undefined): TabStore {
	const listeners = new Set<(event: TokenEvent) => void>()
	const gate = logoutGate()
	let snapshot: TokenSnapshot = { accessToken: null, generation: 0 }
	let state = CONNECTING
	/** Whether this tab saw a token since the last logout; onLogout runs only for tabs that had a session. */
	let hadSession = false

	const emit = (event: TokenEvent) => {
		for (const listener of listeners) {
			try {
				listener(event)
			} catch (error) {
				queueMicrotask(() => {
					throw error
				})
			}
		}
	}

	const setState = (next: ClientState) => {
		if (next === state) return
		state = next
		emit({ type: 'state', state })
	}

	return {
		get snapshot() {
			return snapshot
		},

		get state() {
			return state
		},

		gate,

		apply(next) {
			const { accessToken, expiresAt, generation, user } = next
			// Equal generations with different tokens: a late copy of a state this tab already left (e.g. ended).
			if (generation < snapshot.generation || (generation === snapshot.generation && accessToken !== snapshot.accessToken)) return snapshot
			const changed = accessToken !== snapshot.accessToken
			snapshot = next
			if (accessToken === null) {
				setState(SIGNED_OUT)
				return next
			}
			if (changed) {
				if (!hadSession) gate.begin()
				hadSession = true
				emit(expiresAt === undefined ? { type: 'token', accessToken } : { type: 'token', accessToken, expiresAt })
			}
			// The claims change only with the token; a copy of the same claims keeps the state's identity (no re-render).
			if ((changed && JSON.stringify(user) !== JSON.stringify(state.user)) || state.status !== 'signed-in' || state.expiresAt !== expiresAt)
				setState({ status: 'signed-in', ...(expiresAt === undefined ? {} : { expiresAt }), ...(user === undefined ? {} : { user }) })
			return next
		},

		end(reason, generation, ending, leave) {
			if (generation < snapshot.generation) return
			snapshot = { accessToken: null, generation }
			// Queued requests settle before onLogout navigates away from the page they belong to.
			ending()
			if (!hadSession) {
				setState(SIGNED_OUT)
				leave?.()
				return
			}
			hadSession = false
			onEvent?.({ type: 'session-ended', reason })
			emit({ type: 'logout', reason })
			setState(SIGNED_OUT)
			// A login while the requests settle begins a new session, which the gate does not send to the login page.
			gate.afterRequests(leave ?? (() => onLogout(reason)))
		},

		synced() {
			if (state === CONNECTING) setState(SIGNED_OUT)
		},

		subscribe(listener) {
			listeners.add(listener)
			return () => listeners.delete(listener)
		},

		close() {
			gate.close()
			listeners.clear()
		},
	}
}
