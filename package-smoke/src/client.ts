import { createTokenClient, type LogoutReason, type TokenClient } from 'sw-token-broker'

export const logouts: LogoutReason[] = []

export const client: TokenClient = createTokenClient({
	// The page's query picks the worker's token endpoint or issuer (see sw.ts); a provider's answer in it is not the worker's.
	serviceWorker: navigator.serviceWorker.register(`/sw.js?${new URLSearchParams([...new URLSearchParams(location.search)].filter(([key]) => ['tokenEndpoint', 'clientId', 'issuer'].includes(key)))}`),
	// The default sends the tab to /login, which this app does not have: record the reason instead.
	onLogout: (reason) => {
		logouts.push(reason)
	},
})

/** The redirect URI's page: the broker completes the sign-in, then the code and state leave the address bar and the history. */
export async function completeSignIn(): Promise<Record<string, unknown> | undefined> {
	const { returnTo } = await client.completeSignIn()
	history.replaceState(null, '', returnTo ?? `/?${new URLSearchParams([...new URLSearchParams(location.search)].filter(([key]) => key === 'issuer'))}`)
	return client.state.user
}
