import { type TabSession, abortable } from './tab-session.js'

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown }

/** One HTTP request as an adapter hands it to the session: how to send it, and how to read its answer. */
export interface Attempt<T> {
	/** The token the first attempt carries (null: none was held); the retry carries the broker's current one. */
	token: string | null
	signal?: AbortSignal | undefined
	send(token: string | null): Promise<T>
	/** Whether the answer is a 401 from an authorized origin: one refresh for all tabs and one retry may help. */
	refused(outcome: Outcome<T>): boolean
	/** Called instead of a retry when the request cannot be sent twice; what it throws reaches the caller. */
	cannotRetry?(): never
}

/**
 * The one path both adapters use: authorize, then the token (refreshed ahead of expiry), send,
 * and on a 401 one refresh for all tabs and one retry. A 401 for a token the broker has already
 * replaced is retried with the current one, without a refresh. Counted for the onLogout wait.
 */
export class AuthorizedSender {
	readonly #session: TabSession
	readonly #authorize: (url: URL) => boolean

	constructor(session: TabSession, authorize: (url: URL) => boolean) {
		this.#session = session
		this.#authorize = authorize
	}

	/** Relative URLs count from the page; a URL that does not parse gets no token. */
	authorizes(url: string): boolean {
		try {
			return this.#authorize(new URL(url, globalThis.location?.href))
		} catch {
			return false
		}
	}

	/** The token to send now, without waiting; undefined when the caller must await token(). */
	tokenNow(): string | null | undefined {
		return this.#session.freshToken()
	}

	token(signal?: AbortSignal): Promise<string | null> {
		return this.#session.gate.track(this.#session.tokenForRequest(signal))
	}

	send<T>(attempt: Attempt<T>): Promise<T> {
		return this.#session.gate.track(this.#send(attempt))
	}

	async #send<T>(attempt: Attempt<T>): Promise<T> {
		const first = await attempt.send(attempt.token).then((value): Outcome<T> => ({ ok: true, value }), (error: unknown): Outcome<T> => ({ ok: false, error }))
		if (!attempt.refused(first)) return unwrap(first)
		const { accessToken } = await abortable(this.#session.refreshAfter(attempt.token), attempt.signal)
		if (accessToken === null) return unwrap(first)
		attempt.cannotRetry?.()
		return attempt.send(accessToken)
	}
}

function unwrap<T>(outcome: Outcome<T>): T {
	if (outcome.ok) return outcome.value
	throw outcome.error
}

const senders = new WeakMap<object, AuthorizedSender>()

/** Ties a client to its sender without a visible property; the adapters look it up. */
export function registerSender(client: object, sender: AuthorizedSender): void {
	senders.set(client, sender)
}

export function senderOf(client: object): AuthorizedSender {
	const sender = senders.get(client)
	if (sender === undefined) throw new TypeError('sw-token-broker: expected a client made by createTokenClient() of this copy of sw-token-broker. Two copies in one bundle? Deduplicate the package.')
	return sender
}
