/** Small test helpers shared by the core and page tests. */

export interface Deferred<T> {
	promise: Promise<T>
	resolve: (value: T) => void
	reject: (error: unknown) => void
}

export function deferred<T>(): Deferred<T> {
	let resolve!: (value: T) => void
	let reject!: (error: unknown) => void
	const promise = new Promise<T>((res, rej) => {
		resolve = res
		reject = rej
	})
	return { promise, resolve, reject }
}

/** Lets every pending microtask and zero-delay timer run. */
export function flush(): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, 0))
}

/** Records how a promise settled, without letting a rejection go unhandled. */
export function track<T>(promise: Promise<T>): { settled: boolean; value?: T; error?: unknown; done: Promise<void> } {
	const state: { settled: boolean; value?: T; error?: unknown; done: Promise<void> } = { settled: false, done: Promise.resolve() }
	state.done = promise.then(
		(value) => {
			state.settled = true
			state.value = value
		},
		(error: unknown) => {
			state.settled = true
			state.error = error
		},
	)
	return state
}

function base64url(text: string): string {
	return Buffer.from(text, 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** An unsigned JWT with the given claims: enough for code that only reads `exp`. */
export function jwt(claims: Record<string, unknown>): string {
	return `${base64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}.sig`
}
