import { TokenBrokerError } from './token-broker-error.js'
import { troubleshooting } from './troubleshooting.js'

// Replaced by the app's bundler; the long texts below are development builds' only.
declare const process: { readonly env: { readonly NODE_ENV?: string } }

/** A request got a 401 and the token was refreshed, but its body was a stream, already sent once and gone. */
export class RequestNotReplayableError extends TokenBrokerError {
	override readonly name = 'RequestNotReplayableError'

	constructor() {
		super(
			process.env.NODE_ENV !== 'production'
				? 'Got a 401 and refreshed the token, but the request has a stream body, which cannot be sent twice. Send it again, or use a string, Blob or FormData body to have it retried.'
				: `stream body not re-sent after refresh; ${troubleshooting('RequestNotReplayableError')}`,
		)
	}
}
