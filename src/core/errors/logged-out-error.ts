import type { LogoutReason } from '../protocol.js'
import { TokenBrokerError } from './token-broker-error.js'

/** The session is over: the refresh was rejected, there are no refresh credentials, or the user logged out. */
export class LoggedOutError extends TokenBrokerError {
	override readonly name = 'LoggedOutError'
	declare readonly reason: LogoutReason
	/** The broker's generation when the session ended, so a tab that signed in again since is not logged out by a late answer. */
	declare readonly generation: number | undefined

	constructor(reason: LogoutReason, options: { generation?: number | undefined; message?: string | undefined } = {}) {
		super(options.message ?? `The session is over (${reason}). Sign in again: login() or exchange().`)
		this.reason = reason
		this.generation = options.generation
	}
}
