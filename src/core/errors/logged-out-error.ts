import type { LogoutReason } from '../protocol.js'
import { TokenBrokerError } from './token-broker-error.js'
import { troubleshooting } from './troubleshooting.js'

// Replaced by the app's bundler; the long texts below are development builds' only.
declare const process: { readonly env: { readonly NODE_ENV?: string } }

/** The session is over: the refresh was rejected, there are no refresh credentials, or the user logged out. */
export class LoggedOutError extends TokenBrokerError {
	override readonly name = 'LoggedOutError'
	declare readonly reason: LogoutReason
	/** The broker's generation when the session ended, so a tab that signed in again since is not logged out by a late answer. */
	declare readonly generation: number | undefined

	constructor(reason: LogoutReason, options: { generation?: number | undefined; message?: string | undefined } = {}) {
		super(options.message ?? (process.env.NODE_ENV !== 'production' ? `The session is over (${reason}). Sign in again: login() or exchange().` : `${reason}; ${troubleshooting('LoggedOutError')}`))
		this.reason = reason
		this.generation = options.generation
	}
}
