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
