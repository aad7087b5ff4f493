import { InvalidOptionError } from './errors/invalid-option-error.js'

/** The longest delay setTimeout keeps; a longer one (Infinity too) fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** A duration option, in ms: absent, or a number from `min` that a timer can wait. */
export function checkDuration(option: string, value: unknown, min: number): void {
	if (value !== undefined && !(typeof value === 'number' && value >= min && value <= MAX_TIMER_MS)) {
		throw new InvalidOptionError(option, `a number of milliseconds from ${min} to ${MAX_TIMER_MS}`, value)
	}
}
