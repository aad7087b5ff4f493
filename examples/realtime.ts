import type { TokenClient } from 'sw-token-broker'

/**
 * WebSocket and EventSource cannot carry an Authorization header: the token goes in the URL (or
 * a first message), and a new token means a new connection. This keeps one connection open with
 * the current token: `open` makes it, and calls `expired()` when the server says the token is no
 * longer good; a new token (from any tab's refresh) reopens it, a logout closes it.
 * Returns the function that closes it for good. (docs/frameworks.md shows it in use.)
 */
export function keepConnected(client: Pick<TokenClient, 'getAccessToken' | 'refresh' | 'subscribe'>, open: (token: string, expired: () => void) => () => void): () => void {
	let current: string | null = null
	let close: (() => void) | undefined
	const use = (token: string | null) => {
		if (token === current) return
		close?.()
		close = undefined
		current = token
		// One refresh for all tabs: the broker answers a refresh for a token it already replaced with the new one.
		if (token !== null) close = open(token, () => void client.refresh().then(use, () => use(null)))
	}
	const unsubscribe = client.subscribe((event) => {
		if (event.type === 'token') use(event.accessToken)
		else if (event.type === 'logout') use(null)
	})
	void client.getAccessToken().then(use, () => use(null))
	return () => {
		unsubscribe()
		use(null)
	}
}
