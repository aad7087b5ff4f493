import { BrokerTimeoutError } from './errors/broker-timeout-error.js'

/**
 * Settles as `promise` does, or rejects with `onTimeout()` after `timeoutMs`, whichever comes
 * first. Every wait on another context or the network goes through here: nothing waits forever.
 */
export function timeLimit<T>(promise: Promise<T>, timeoutMs: number, onTimeout: () => unknown): Promise<T> {
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(onTimeout()), timeoutMs)
		promise.then(resolve, reject).finally(() => clearTimeout(timer))
	})
}

/** A page's wait on its broker: past timeoutMs it is a BrokerTimeoutError naming the operation. */
export function brokerTimeLimit<T>(promise: Promise<T>, timeoutMs: number, operation: string): Promise<T> {
	return timeLimit(promise, timeoutMs, () => new BrokerTimeoutError(operation, timeoutMs))
}
