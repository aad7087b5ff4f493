import { BrokerTimeoutError } from './core/errors/broker-timeout-error.js'
import { timeLimit } from './core/time-limit.js'

/** A page's wait on its broker: past timeoutMs it is a BrokerTimeoutError naming the operation. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, operation: string): Promise<T> {
	return timeLimit(promise, timeoutMs, () => new BrokerTimeoutError(operation, timeoutMs))
}
