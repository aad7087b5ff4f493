import { TokenBrokerError } from './token-broker-error.js'

/** A message claimed to be of the broker protocol but did not match it. */
export class ProtocolError extends TokenBrokerError {
	override readonly name = 'ProtocolError'
	/** What was wrong with the message, without the advice around it. */
	declare readonly problem: string

	constructor(problem: string) {
		super(`Bad token-broker message: ${problem}. Page and worker must run one sw-token-broker version.`)
		this.problem = problem
	}
}
