import { TokenBrokerError } from './token-broker-error.js'

/** exchange() or a sign-in (signIn, completeSignIn) was refused, by the server or by the broker; `oauthError` names why. The current session is untouched. */
export class LoginFailedError extends TokenBrokerError {
	override readonly name = 'LoginFailedError'
	declare readonly status: number | undefined
	declare readonly oauthError: string | undefined

	constructor(message: string, options: { status?: number; oauthError?: string; cause?: unknown } = {}) {
		super(message, { cause: options.cause })
		this.status = options.status
		this.oauthError = options.oauthError
	}
}
