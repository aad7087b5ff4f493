import { createTokenClient, type LogoutReason, type TokenClient } from 'sw-token-broker'

export const logouts: LogoutReason[] = []

export const client: TokenClient = createTokenClient({
	// The page's query picks the worker's token endpoint (see sw.ts).
	serviceWorker: navigator.serviceWorker.register(`/sw.js${location.search}`),
	// The default sends the tab to /login, which this app does not have: record the reason instead.
	onLogout: (reason) => {
		logouts.push(reason)
	},
})
