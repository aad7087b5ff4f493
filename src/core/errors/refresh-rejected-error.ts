import { TokenBrokerError } from './token-broker-error.js'

/**
 * Thrown by a refresh function to say the session is over (e.g. 400 invalid_grant).
 * Every tab is logged out; no refresh is attempted again until the next login.
 */
export class RefreshRejectedError extends TokenBrokerError {
	override readonly name = 'RefreshRejectedError'
	declare readonly reason: 'refresh-rejected' | 'no-refresh-credentials'
	declare readonly status: number | undefined
	/** The OAuth `error` of the token endpoint's answer; `invalid_client` and `unauthorized_client` mean the broker is misconfigured. */
	declare readonly oauthError: string | undefined

	constructor(message: string, options: { reason?: 'refresh-rejected' | 'no-refresh-credentials'; status?: number; oauthError?: string | undefined; cause?: unknown } = {}) {
		super(message, { cause: options.cause })
		this.reason = options.reason ?? 'refresh-rejected'
		this.status = options.status
		this.oauthError = options.oauthError
	}
}
