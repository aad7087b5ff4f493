import { TokenBrokerError } from './token-broker-error.js'

/**
 * The token could not be refreshed right now (offline, timeout, 5xx, an unusable response).
 * The session is kept: a later request tries again.
 */
export class RefreshUnavailableError extends TokenBrokerError {
	override readonly name = 'RefreshUnavailableError'

	constructor(detail: string, options?: { cause?: unknown }) {
		super(`The access token could not be refreshed now (${detail}). The session is kept; retry the request later.`, options)
	}
}
