/** One hook for telemetry: the app's onEvent, and console.debug when debug is on. Silent by default. */
export function reporter<E>(onEvent: ((event: E) => void) | undefined, debug: boolean | undefined, side: string): ((event: E) => void) | undefined {
	if (onEvent === undefined && debug !== true) return undefined
	return (event) => {
		if (debug === true) console.debug(`[sw-token-broker ${side}]`, event)
		onEvent?.(event)
	}
}
