import { TokenBrokerError } from './token-broker-error.js'

export interface RefreshUnavailableOptions {
	cause?: unknown
	/** When the broker allows its next refresh attempt (epoch ms), when it knows. */
	retryAt?: number | undefined
	/** A `Retry-After` the token endpoint sent with a 429 or 503, in ms: the broker waits at least this long. */
	retryAfterMs?: number | undefined
	/** The token endpoint's HTTP status, when it answered. */
	status?: number | undefined
}

/**
 * The token could not be refreshed right now (offline, timeout, 5xx, an unusable response).
 * The session is kept: a later request tries again, best from `retryAt` on.
 */
export class RefreshUnavailableError extends TokenBrokerError {
	override readonly name = 'RefreshUnavailableError'
	/** What went wrong, without the advice around it: the broker re-throws it with its own retryAt. */
	readonly detail: string
	readonly retryAt: number | undefined
	readonly retryAfterMs: number | undefined
	readonly status: number | undefined

	constructor(detail: string, options: RefreshUnavailableOptions = {}) {
		super(`The access token could not be refreshed now (${detail}). The session is kept; retry the request ${options.retryAt === undefined ? 'later' : `from ${new Date(options.retryAt).toISOString()} on`}.`, { cause: options.cause })
		this.detail = detail
		this.retryAt = options.retryAt
		this.retryAfterMs = options.retryAfterMs
		this.status = options.status
	}
}
