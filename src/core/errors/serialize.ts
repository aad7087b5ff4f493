import type { SerializedError } from '../protocol.js'
import { BrokerTimeoutError } from './broker-timeout-error.js'
import { LoggedOutError } from './logged-out-error.js'
import { LoginFailedError } from './login-failed-error.js'
import { ProtocolError } from './protocol-error.js'
import { RefreshUnavailableError } from './refresh-unavailable-error.js'

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

/** Rebuilds the typed error on the page side, keeping the broker's message. */
export function deserializeError(error: SerializedError): Error {
	switch (error.name) {
		case 'LoggedOutError':
			return new LoggedOutError(error.reason ?? 'refresh-rejected', { message: error.message, generation: error.generation })
		case 'RefreshUnavailableError':
			return Object.assign(new RefreshUnavailableError('broker', { retryAt: error.retryAt }), { message: error.message })
		case 'LoginFailedError':
			return new LoginFailedError(error.message, { status: error.status, oauthError: error.oauthError })
		case 'BrokerTimeoutError':
			return Object.assign(new BrokerTimeoutError('broker', 0), { message: error.message })
		case 'ProtocolError':
			return Object.assign(new ProtocolError(''), { message: error.message })
		default:
			return Object.assign(new Error(error.message), { name: error.name })
	}
}
