import { RefreshRejectedError } from './errors/refresh-rejected-error.js'
import { RefreshUnavailableError } from './errors/refresh-unavailable-error.js'

/**
 * When a refresh fails, is the session over or should we try again later?
 * Only an explicit RefreshRejectedError ends a session: logging users out because
 * they were offline for a moment is the failure this library exists to prevent.
 */
export function isDefinitive(error: unknown): error is RefreshRejectedError {
	return error instanceof RefreshRejectedError
}

export function asTransient(error: unknown): RefreshUnavailableError {
	if (error instanceof RefreshUnavailableError) return error
	const detail = error instanceof Error ? `${error.name}: ${error.message}` : 'the refresh function failed'
	return new RefreshUnavailableError(detail, { cause: error })
}

const BACKOFF_BASE_MS = 1_000
const BACKOFF_MAX_MS = 30_000

/**
 * How long to refuse new refresh attempts after `failures` transient failures in a row.
 * The first failure allows an immediate retry (a blip); after that the wait doubles up to
 * 30 s, with jitter so tabs and clients do not hammer a recovering endpoint in step.
 */
export function backoffMs(failures: number, random: () => number): number {
	if (failures <= 1) return 0
	const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (failures - 2))
	return Math.round(ceiling * (0.5 + random() / 2))
}
