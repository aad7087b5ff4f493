import { TokenBrokerError } from './token-broker-error.js'
import { troubleshooting } from './troubleshooting.js'

// Replaced by the app's bundler; the long texts below are development builds' only.
declare const process: { readonly env: { readonly NODE_ENV?: string } }

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
	declare readonly detail: string
	declare readonly retryAt: number | undefined
	declare readonly retryAfterMs: number | undefined
	declare readonly status: number | undefined

	constructor(detail: string, options: RefreshUnavailableOptions = {}) {
		super(
			process.env.NODE_ENV !== 'production'
				? `The token could not be refreshed now (${detail}); the session is kept. Retry ${options.retryAt === undefined ? 'later' : `from ${new Date(options.retryAt).toISOString()}`}.`
				: `${detail}; ${troubleshooting('RefreshUnavailableError')}`,
			{ cause: options.cause },
		)
		this.detail = detail
		this.retryAt = options.retryAt
		this.retryAfterMs = options.retryAfterMs
		this.status = options.status
	}
}
