import { InvalidOptionError } from './errors/invalid-option-error.js'

/** The longest delay setTimeout keeps; a longer one (Infinity too) fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** A duration option, in ms: absent, or a number from `min` to `max` (what a timer can wait). */
export function checkDuration(option: string, value: unknown, min: number, max = MAX_TIMER_MS): void {
	if (value !== undefined && !(typeof value === 'number' && value >= min && value <= max)) {
		throw new InvalidOptionError(option, `a number of milliseconds from ${min} to ${Math.floor(max)}`, value)
	}
}
