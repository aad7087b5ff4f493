import { TokenBrokerError } from './token-broker-error.js'
import { troubleshooting } from './troubleshooting.js'

// Replaced by the app's bundler; the long texts below are development builds' only.
declare const process: { readonly env: { readonly NODE_ENV?: string } }

/** A message claimed to be of the broker protocol but did not match it. */
export class ProtocolError extends TokenBrokerError {
	override readonly name = 'ProtocolError'
	/** What was wrong with the message, without the advice around it. */
	declare readonly problem: string

	constructor(problem: string) {
		super(process.env.NODE_ENV !== 'production' ? `Bad token-broker message: ${problem}. Page and worker must run one sw-token-broker version.` : `${problem}; ${troubleshooting('ProtocolError')}`)
		this.problem = problem
	}
}
