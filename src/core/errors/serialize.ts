import type { SerializedError } from '../protocol.js'
import { BrokerTimeoutError } from './broker-timeout-error.js'
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
	if (error instanceof RefreshUnavailableError && error.retryAt !== undefined) serialized.retryAt = error.retryAt
	if (error instanceof LoginFailedError) {
		if (error.status !== undefined) serialized.status = error.status
		if (error.oauthError !== undefined) serialized.oauthError = error.oauthError
	}
	return serialized
}

/**
 * The classes a broker's answer may carry, by name. Each is built as `new Class(message, 0)`: every
 * constructor takes a string first, and none reads options from a number (BrokerTimeoutError,
 * which never crosses from the broker, takes it as timeoutMs 0).
 */
const CLASSES = { LoggedOutError, RefreshUnavailableError, LoginFailedError, BrokerTimeoutError, ProtocolError } as unknown as Record<string, (new (message: string, options: 0) => Error) | undefined>

/** Rebuilds the typed error on the page side, with the broker's own message and fields. */
export function deserializeError(error: SerializedError): Error {
	return Object.assign(new (CLASSES[error.name] ?? Error)(error.message, 0), error)
}
