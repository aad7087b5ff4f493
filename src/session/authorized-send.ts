import { abortable } from './abortable.js'
import type { TabSession } from './tab-session.js'

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown }

/** One HTTP request as an adapter hands it to the session: how to send it, and how to read its answer. */
export interface Attempt<T> {
	/** The token the first attempt carries (null: none was held); the retry carries the broker's current one. */
	token: string | null
	signal?: AbortSignal | undefined
	/** With `proof` (DPoP), the token goes as `Authorization: DPoP …` beside a `DPoP` header; else as Bearer. */
	send(token: string | null, proof?: string): Promise<T>
	/** For a DPoP proof: the request's method and URL (relative to the page). */
	method: string
	url: string
	/** Whether the answer is a 401 from an authorized origin: one refresh for all tabs and one retry may help. */
	refused(outcome: Outcome<T>): boolean
	/** Called instead of a retry when the request cannot be sent twice; what it throws reaches the caller. */
	cannotRetry?(): never
}

/** What the adapters use: whether a URL gets the token, the token, and the send with its one retry. */
export interface AuthorizedSender {
	/** Relative URLs count from the document's base URL, as fetch and XHR resolve them; a URL that does not parse gets no token. Each URL is parsed once (the last 100 kept). */
	authorizes(url: string): boolean
	/** The token to send now, without waiting; undefined when the caller must await tokenForRequest() (see TabSession). */
	tokenNow(keepalive?: boolean): string | null | undefined
	tokenForRequest(signal?: AbortSignal): Promise<string | null>
	send<T>(attempt: Attempt<T>): Promise<T>
}

/**
 * The one path both adapters use: authorize, then the token (refreshed ahead of expiry), send,
 * and on a 401 one refresh for all tabs and one retry. A 401 for a token the broker has already
 * replaced is retried with the current one, without a refresh. Counted for the onLogout wait.
 */
export function authorizedSender(session: TabSession, authorize: (url: URL) => boolean): AuthorizedSender {
	const retry = async <T>(attempt: Attempt<T>, first: Outcome<T>): Promise<T> => {
		const { accessToken } = await abortable(session.refreshAfter(attempt.token), attempt.signal)
		// No token, or the very one just refused (a broker that could not do better): the caller gets the answer it had.
		if (accessToken === null || accessToken === attempt.token) return unwrap(first)
		attempt.cannotRetry?.()
		return attempt.send(accessToken)
	}
	// No async function on the way of an answer that is not refused: one promise per request, not three.
	const settle = <T>(attempt: Attempt<T>, first: Outcome<T>): T | Promise<T> => (attempt.refused(first) ? retry(attempt, first) : unwrap(first))
	const sendOnce = <T>(attempt: Attempt<T>): Promise<T> =>
		attempt.send(attempt.token).then(
			(value) => settle(attempt, { ok: true, value }),
			(error: unknown) => settle(attempt, { ok: false, error }),
		)
	/** Request URLs as parsed, by page and URL: parsing is most of what authorizing costs, and an app asks for the same few URLs. */
	const parsed = new Map<string, URL>()
	/** The DPoP step once loaded: an import() per request would cost a task hop each (bench/dpop.ts). */
	let step: typeof import('./dpop-attempt.js') | undefined
	return {
		authorizes(url) {
			const base = requestBase()
			// A serialized URL has no space: the key is unambiguous.
			const key = `${base} ${url}`
			// Bounded: an app with ever new URLs (ids in paths) starts it over.
			if (parsed.size > 99) parsed.clear()
			try {
				return authorize(parsed.get(key) ?? parsed.set(key, new URL(url, base)).get(key)!)
			} catch {
				return false
			}
		},
		tokenNow: session.tokenNow,
		tokenForRequest: (signal) => session.gate.track(session.tokenForRequest(signal)),
		send: (attempt) => {
			const binding = session.dpop
			// An app without DPoP never loads the DPoP step: its bytes stay out of the page's first load.
			return session.gate.track(
				binding === undefined
					? sendOnce(attempt)
					: step !== undefined
						? sendOnce(step.withProofs(binding, attempt, requestBase()))
						: import('./dpop-attempt.js').then((loaded) => sendOnce((step = loaded).withProofs(binding, attempt, requestBase()))),
			)
		},
	}
}

function unwrap<T>(outcome: Outcome<T>): T {
	if (outcome.ok) return outcome.value
	throw outcome.error
}

/** What a relative request URL counts from. Not location.href: fetch and XHR send it where a <base href> says. */
function requestBase(): string | undefined {
	return globalThis.document?.baseURI ?? globalThis.location?.href
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
