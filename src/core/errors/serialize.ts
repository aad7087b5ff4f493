import type { SerializedError } from '../protocol.js'
import { LoggedOutError } from './logged-out-error.js'
import { LoginFailedError } from './login-failed-error.js'
import { ProtocolError } from './protocol-error.js'
import { RefreshUnavailableError } from './refresh-unavailable-error.js'

/** What went wrong, in words, whatever was thrown: apps' functions may throw anything. */
export function messageOf(error: unknown): string {
	return error instanceof Error ? error.message : String(error)
}

/** Errors cross postMessage as plain data; structured clone would drop their class. */
export function serializeError(error: unknown): SerializedError {
	if (!(error instanceof Error)) return { name: 'Error', message: String(error) }
	const serialized: SerializedError = { name: error.name, message: error.message }
	if (error instanceof LoggedOutError) {
		serialized.reason = error.reason
		if (error.generation !== undefined) serialized.generation = error.generation
	}
	if (error instanceof RefreshUnavailableError) {
		serialized.detail = error.detail
		if (error.retryAt !== undefined) serialized.retryAt = error.retryAt
		if (error.retryAfterMs !== undefined) serialized.retryAfterMs = error.retryAfterMs
		if (error.status !== undefined) serialized.status = error.status
	}
	if (error instanceof LoginFailedError) {
		if (error.status !== undefined) serialized.status = error.status
		if (error.oauthError !== undefined) serialized.oauthError = error.oauthError
	}
	if (error instanceof ProtocolError) serialized.detail = error.problem
	return serialized
}

/**
 * The classes a broker's answer may carry, by name, each built by its own constructor. The
 * serialized fields are named as the constructors' options, and each reads only its own.
 */
const BUILDERS: Readonly<Record<string, (error: SerializedError) => Error>> = {
	LoggedOutError: (error) => new LoggedOutError(error.reason ?? 'remote', error),
	RefreshUnavailableError: (error) => new RefreshUnavailableError(error.detail ?? error.message, error),
	LoginFailedError: (error) => new LoginFailedError(error.message, error),
	ProtocolError: (error) => new ProtocolError(error.detail ?? error.message),
}

/** Rebuilds the typed error on the page side, with the broker's own message and fields. */
export function deserializeError(error: SerializedError): Error {
	if (Object.hasOwn(BUILDERS, error.name)) return BUILDERS[error.name]!(error)
	// Anything else the broker threw (an app's function may throw anything): its name and message.
	const plain = new Error(error.message)
	plain.name = error.name
	return plain
}
