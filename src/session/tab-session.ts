import type { BrokerConnection } from '../transports/connection.js'
import { LoggedOutError } from '../core/errors/logged-out-error.js'
import type { BrokerRequest, DPoPBinding, ExchangeRequest, LogoutReason, TokenSet, TokenSnapshot } from '../core/protocol.js'
import { abortable } from './abortable.js'
import type { LogoutGate } from './logout-gate.js'
import { refreshCoalescing } from './refresh-coalescing.js'
import { seeding } from './seeding.js'
import { type ClientState, type TabEvent, type TokenEvent, tabStore } from './tab-store.js'

export type { ClientState, TabEvent, TokenEvent } from './tab-store.js'

export const DEFAULT_TIMEOUT_MS = 15_000
const DEFAULT_REFRESH_AHEAD_MS = 30_000

export interface SessionOptions {
	timeoutMs?: number
	refreshAheadMs?: number
	onLogout: (reason: LogoutReason) => void
	now?: () => number
	onEvent?: ((event: TabEvent) => void) | undefined
}

/**
 * A tab's view of the session: the current access token in memory, as last broadcast
 * by the broker, and the only path from this tab to the broker.
 */
export interface TabSession {
	/**
	 * The token to send now, without waiting: undefined when the caller must await
	 * tokenForRequest(). `keepalive`: the request may outlive the page, so a token that is still
	 * valid is sent rather than wait for its renewal ahead of expiry.
	 */
	tokenNow(keepalive?: boolean): string | null | undefined
	/** The token to send: waits for the first sync, and for a refresh when the token is about to expire. */
	tokenForRequest(signal?: AbortSignal): Promise<string | null>
	/**
	 * A request sent with `failedToken` was refused: the broker refreshes once, or returns a newer
	 * token it already has. `early`: nothing was refused, the token is only due for renewal.
	 */
	refreshAfter(failedToken: string | null, early?: boolean): Promise<TokenSnapshot>
	/**
	 * The keep-alive ping. If the broker lost the session this tab still holds (a stopped
	 * worker in memory mode), the tab seeds it back with its access token.
	 */
	ping(): Promise<void>
	/**
	 * Back online, or back in view: the broker's wait before its next attempt starts over, and a
	 * token that expired meanwhile is refreshed now, not on the next request's 401.
	 */
	resume(): void
	/** The token this tab holds, fresh or not. */
	readonly accessToken: string | null
	/** The key the current token is bound to (DPoP), as the broker shared it; undefined for a bearer token. */
	readonly dpop: DPoPBinding | undefined
	readonly state: ClientState
	readonly gate: LogoutGate
	getAccessToken(): Promise<string | null>
	refresh(): Promise<string>
	login(tokens: TokenSet): Promise<void>
	exchange(request: ExchangeRequest): Promise<void>
	/** A sign-in step (sign-in, complete-sign-in): adopts the answer, and returns where this tab goes next. */
	signInStep(message: Extract<BrokerRequest, { type: 'sign-in' | 'complete-sign-in' }>): Promise<string | undefined>
	/**
	 * Ends the session in this tab at once, then in every tab the broker reaches; rejects when the
	 * broker could not be told (the other tabs may then still be signed in). `endSession`:
	 * RP-initiated logout; this tab then navigates to the provider instead of running onLogout.
	 */
	logout(options?: { endSession?: boolean }): Promise<void>
	subscribe(listener: (event: TokenEvent) => void): () => void
	close(): void
}

export function tabSession(connection: BrokerConnection, options: SessionOptions): TabSession {
	const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
	const now = options.now ?? Date.now
	const tab = Math.random().toString(36).slice(2)
	const send = (message: BrokerRequest) => connection.request(message, timeoutMs)
	const store = tabStore(options.onLogout, options.onEvent)
	/**
	 * Every end of the session passes here. This tab's own logout (`own`) ends it before anything
	 * reaches the broker, so a 'user' logout heard from the broker (its broadcast, or the answer to
	 * a refresh that the logout overtook) is always another tab's.
	 */
	const end = (reason: LogoutReason, generation: number, own = false, leave?: () => void) => {
		store.end(reason === 'user' && !own ? 'remote' : reason, generation, () => refreshes.end(new LoggedOutError(reason)), leave)
	}
	const refreshes = refreshCoalescing(send, store, {
		timeoutMs,
		now,
		onEvent: options.onEvent,
		onLoggedOut: (error) => end(error.reason, error.generation ?? store.snapshot.generation),
	})
	const { seed, ping } = seeding(send, store)

	/**
	 * A fifth of the token's lifetime by default, at most 30 s. One given explicitly is capped at half
	 * the lifetime, so no setting and no clock makes every request a refresh.
	 */
	const refreshAheadMs = () => {
		const { expiresAt, issuedAt } = store.snapshot
		const explicit = options.refreshAheadMs
		if (expiresAt === undefined || issuedAt === undefined) return explicit ?? DEFAULT_REFRESH_AHEAD_MS
		const lifetime = expiresAt - issuedAt
		return explicit === undefined ? Math.min(DEFAULT_REFRESH_AHEAD_MS, lifetime / 5) : Math.min(explicit, lifetime / 2)
	}

	/**
	 * While this tab's own logout is on its way to the broker, token broadcasts wait for its answer:
	 * a refresh that the broker finished just before it heard of the logout must not sign the tab
	 * in again, and a login after it is newer than the logout's answer and is adopted then.
	 */
	let heldDuringLogout: TokenSnapshot[] | null = null
	const stopListening = connection.onBroadcast((message) => {
		if (message.type === 'token') {
			if (heldDuringLogout === null) store.apply(message.snapshot)
			else heldDuringLogout.push(message.snapshot)
		} else if (message.type === 'seed-request') seed().catch(() => undefined)
		else end(message.reason, message.generation)
	})

	let synced: Promise<unknown> | null = send({ type: 'hello' })
		.then(store.apply, () => undefined)
		.finally(() => {
			synced = null
			store.synced()
		})

	const session: TabSession = {
		tokenNow(keepalive) {
			if (synced !== null) return undefined
			const { accessToken, expiresAt } = store.snapshot
			if (accessToken === null) return null
			// A token this tab saw refused would only be refused again: new requests wait for the refresh under way.
			if (refreshes.refused(accessToken)) return undefined
			return expiresAt === undefined || expiresAt - now() > (keepalive ? 0 : refreshAheadMs()) ? accessToken : undefined
		},

		async tokenForRequest(signal) {
			if (synced !== null) await abortable(synced, signal)
			const ready = session.tokenNow()
			if (ready !== undefined) return ready
			const { accessToken, expiresAt = 0 } = store.snapshot
			try {
				return (await abortable(refreshes.after(accessToken, true), signal)).accessToken
			} catch (error) {
				// A token that has not expired yet still works if the early refresh could not be done.
				if (error instanceof LoggedOutError || expiresAt <= now() || signal?.aborted) throw error
				return accessToken
			}
		},

		refreshAfter: refreshes.after,

		ping,

		resume() {
			const { accessToken } = store.snapshot
			if (synced !== null || accessToken === null) return
			send({ type: 'resume' }).catch(() => undefined)
			if (session.tokenNow() === undefined) refreshes.after(accessToken, true).catch(() => undefined)
		},

		get accessToken() {
			return store.snapshot.accessToken
		},

		get dpop() {
			return store.snapshot.dpop
		},

		get state() {
			return store.state
		},

		gate: store.gate,

		getAccessToken: () => session.tokenForRequest(),

		async refresh() {
			if (synced !== null) await synced
			const { accessToken } = await refreshes.after(store.snapshot.accessToken, true)
			if (accessToken === null) throw new LoggedOutError('no-refresh-credentials')
			return accessToken
		},

		async login(tokens) {
			store.apply(await send({ type: 'login', tokens }))
		},

		async exchange(request) {
			store.apply(await send({ type: 'exchange', request }))
		},

		async signInStep(message) {
			const { location, ...next } = await send(message)
			store.apply(next)
			return location
		},

		async logout(request) {
			const endSession = request?.endSession === true
			const reply = send(endSession ? { type: 'logout', tab, endSession } : { type: 'logout', tab })
			// The provider's end-session page, once the broker has given its URL; without one (no
			// end_session_endpoint, or the broker unreachable), onLogout as for any logout.
			const leave = endSession
				? () =>
						void reply
							.then(
								({ location }) => location,
								() => undefined,
							)
							.then((location) => (location === undefined ? options.onLogout('user') : globalThis.location.assign(location)))
				: undefined
			// Past the broker's last generation, and counted from the clock as the broker counts: an
			// answer of a broker that never heard of this logout is older, and cannot sign the tab in again.
			end('user', Math.max(store.snapshot.generation + 1, now()), true, leave)
			const held: TokenSnapshot[] = (heldDuringLogout = [])
			try {
				const { location: _, ...answer } = await reply
				store.apply(answer)
			} finally {
				if (heldDuringLogout === held) heldDuringLogout = null
				for (const snapshot of held) store.apply(snapshot)
			}
		},

		subscribe: store.subscribe,

		close() {
			store.close()
			stopListening()
			connection.close()
		},
	}
	return session
}
