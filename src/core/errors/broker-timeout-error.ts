import { TokenBrokerError } from './token-broker-error.js'

/** The broker (service worker or in-page host) did not answer in time. */
export class BrokerTimeoutError extends TokenBrokerError {
	override readonly name = 'BrokerTimeoutError'
	declare readonly timeoutMs: number

	constructor(operation: string, timeoutMs: number) {
		super(`The token broker did not answer "${operation}" within ${timeoutMs} ms (its worker stopped or still installing?). Retry, or raise timeoutMs.`)
		this.timeoutMs = timeoutMs
	}
}
