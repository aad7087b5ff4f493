import type { LogoutReason } from '../protocol.js'
import { TokenBrokerError } from './token-broker-error.js'

/** The session is over: the refresh was rejected or there are no refresh credentials. */
export class LoggedOutError extends TokenBrokerError {
	override readonly name = 'LoggedOutError'
	readonly reason: LogoutReason

	constructor(reason: LogoutReason, message?: string) {
		super(message ?? `The session is over (${reason}). Sign in again: call login() or exchange() once the user has authenticated.`)
		this.reason = reason
	}
}
