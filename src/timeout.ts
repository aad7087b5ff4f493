import { BrokerTimeoutError } from './core/errors/broker-timeout-error.js'

/** Every await on another context goes through here: nothing waits forever. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, operation: string): Promise<T> {
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(new BrokerTimeoutError(operation, timeoutMs)), timeoutMs)
		promise.then(resolve, reject).finally(() => clearTimeout(timer))
	})
}
