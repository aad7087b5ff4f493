import { TokenBrokerError } from './token-broker-error.js'

/** An option was given a value the library cannot work with; thrown where the option is read, before anything starts. */
export class InvalidOptionError extends TokenBrokerError {
	override readonly name = 'InvalidOptionError'
	declare readonly option: string

	constructor(option: string, expected: string, value: unknown) {
		super(
			`The option "${option}" must be ${expected}; it was given ${typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value}. Pass such a value, or leave it out for the default.`,
		)
		this.option = option
	}
}
