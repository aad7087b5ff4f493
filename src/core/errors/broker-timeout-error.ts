import { TokenBrokerError } from './token-broker-error.js'
import { troubleshooting } from './troubleshooting.js'

// Replaced by the app's bundler; the long texts below are development builds' only.
declare const process: { readonly env: { readonly NODE_ENV?: string } }

/** The broker (service worker or in-page host) did not answer in time. */
export class BrokerTimeoutError extends TokenBrokerError {
	override readonly name = 'BrokerTimeoutError'
	declare readonly timeoutMs: number

	constructor(operation: string, timeoutMs: number) {
		super(
			process.env.NODE_ENV !== 'production'
				? `The token broker did not answer "${operation}" within ${timeoutMs} ms (its worker stopped or still installing?). Retry, or raise timeoutMs.`
				: `${operation}: no answer in ${timeoutMs} ms; ${troubleshooting('BrokerTimeoutError')}`,
		)
		this.timeoutMs = timeoutMs
	}
}
