import type { LogoutReason } from 'sw-token-broker'

/** What the page exposes on `window.smoke` for the Playwright test. */
export interface SmokeApi {
	/** Sends n GET /api/data at once; reports how they settled. */
	fire(count: number): Promise<{ ok: number; failed: number; errors: string[] }>
	signIn(): Promise<void>
	/** The broker redeems a code the test got from the OpenID provider's headless sign-in. */
	exchange(request: { url: string; body: Record<string, string> }): Promise<void>
	token(): Promise<string | null>
	/** Every logout this tab saw, with its reason. */
	logouts: LogoutReason[]
}

declare global {
	interface Window {
		smoke: SmokeApi
	}
}
