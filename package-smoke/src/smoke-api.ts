import type { LogoutReason } from 'sw-token-broker'

/** What the page exposes on `window.smoke` for the Playwright test. */
export interface SmokeApi {
	/** Sends n GET /api/data at once; reports how they settled. */
	fire(count: number): Promise<{ ok: number; failed: number; errors: string[] }>
	signIn(): Promise<void>
	/** The broker redeems a code the test got from the OpenID provider's headless sign-in. */
	exchange(request: { url: string; body: Record<string, string> }): Promise<void>
	/** client.signIn(): the broker sends this tab to the provider. */
	signInAtProvider(): Promise<void>
	/** On the redirect URI: client.completeSignIn(), then the URL is cleaned; answers client.state.user. */
	completeSignIn(): Promise<Record<string, unknown> | undefined>
	token(): Promise<string | null>
	/** Every logout this tab saw, with its reason. */
	logouts: LogoutReason[]
}

declare global {
	interface Window {
		smoke: SmokeApi
	}
}
