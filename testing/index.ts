/**
 * For app test suites: the dev auth server as a library, and Playwright helpers that drive
 * the token's lifetime, so an app's own e2e suite tests its expiry paths in a few lines.
 */
import type { Page } from '@playwright/test'
import type { DevAuthServer } from '../server/dev-auth-server.js'

export {
	startDevAuthServer,
	type DevAuthServer,
	type DevAuthServerOptions,
	type DevAuthStats,
	type ExternalIssuer,
	type RefreshMode,
} from '../server/dev-auth-server.js'

/** Stops every service worker of the browser, as Chromium does after 30 s idle (never under DevTools). */
export async function stopServiceWorkers(page: Page): Promise<void> {
	const cdp = await page.context().newCDPSession(page)
	try {
		await cdp.send('ServiceWorker.enable')
		await cdp.send('ServiceWorker.stopAllWorkers')
	} finally {
		await cdp.detach()
	}
}

/** Ctrl+Shift+R: the page reloads bypassing the cache and the worker, and comes back without a controller. */
export async function hardReload(page: Page): Promise<void> {
	const cdp = await page.context().newCDPSession(page)
	try {
		const loaded = page.waitForEvent('load')
		await cdp.send('Page.reload', { ignoreCache: true })
		await loaded
	} finally {
		await cdp.detach()
	}
}

/** Every access token issued so far is now refused by the API with 401; refresh tokens stay valid. */
export function expireToken(server: DevAuthServer): void {
	server.expireAccessTokens()
}

/** How many refresh calls reached the server since it started (or since `server.resetStats()`). */
export function refreshCount(server: DevAuthServer): number {
	return server.stats().refreshCalls
}

export {
	startOidcProvider,
	type OidcProvider,
	type OidcProviderOptions,
	type OidcProviderStats,
	type OidcGrantStats,
	type HeadlessSignIn,
} from './oidc-provider.js'
