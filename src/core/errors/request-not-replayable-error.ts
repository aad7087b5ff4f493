import { TokenBrokerError } from './token-broker-error.js'

/** A request got a 401 and the token was refreshed, but its body was a stream, already sent once and gone. */
export class RequestNotReplayableError extends TokenBrokerError {
	override readonly name = 'RequestNotReplayableError'

	constructor() {
		super('The request was refused with 401 and the access token has been refreshed, but its body is a stream that cannot be sent twice. Send the request again, or pass the body as a string, Blob, ArrayBuffer, URLSearchParams or FormData so it can be retried for you.')
	}
}
