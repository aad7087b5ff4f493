/**
 * For app test suites: the dev auth server as a library, and Playwright helpers that drive
 * the token's lifetime, so an app's own e2e suite tests its expiry paths in a few lines.
 * @module sw-token-broker/testing
 */
import type { Page } from '@playwright/test'
import type { DevAuthServer } from '../server/dev-auth-server.js'

export { startDevAuthServer, type DevAuthServer, type DevAuthServerOptions, type DevAuthStats, type ExternalIssuer, type RefreshMode, type DPoPStats } from '../server/dev-auth-server.js'
export { dpopVerifier, jwkThumbprint, type DPoPVerifier, type DPoPVerifierOptions, type DPoPExpectation, type DPoPVerdict } from '../server/dpop-verifier.js'

/** A helper was asked for something the page's browser, or the way Playwright drives it, does not offer. */
export class UnsupportedBrowserError extends Error {
	override readonly name = 'UnsupportedBrowserError'
}

/** Stops every service worker of the browser, as Chromium and Firefox do after 30 s idle (never under automation). */
export async function stopServiceWorkers(page: Page): Promise<void> {
	const firefox = firefoxChrome(page)
	if (firefox !== undefined) {
		await firefox.evaluate(`(() => {
			const registrations = Cc['@mozilla.org/serviceworkers/manager;1'].getService(Ci.nsIServiceWorkerManager).getAllRegistrations()
			for (let i = 0; i < registrations.length; i++) {
				const registration = registrations.queryElementAt(i, Ci.nsIServiceWorkerRegistrationInfo)
				for (const worker of [registration.installingWorker, registration.waitingWorker, registration.activeWorker]) worker?.terminateWorker()
			}
		})()`)
		return
	}
	const cdp = await chromiumSession(page, 'stopServiceWorkers')
	try {
		await cdp.send('ServiceWorker.enable')
		await cdp.send('ServiceWorker.stopAllWorkers')
	} finally {
		await cdp.detach()
	}
}

/** Ctrl+Shift+R: the page reloads bypassing the cache and the worker, and comes back without a controller. */
export async function hardReload(page: Page): Promise<void> {
	const firefox = firefoxChrome(page)
	if (firefox !== undefined) {
		const loaded = page.waitForEvent('load')
		// BiDi's browsingContext.reload({ ignoreCache: true }) answers "unsupported operation"; the browser's own reload does not.
		await firefox.evaluate(`(() => {
			const { NavigableManager } = ChromeUtils.importESModule('chrome://remote/content/shared/NavigableManager.sys.mjs')
			NavigableManager.getBrowsingContextById(${JSON.stringify(firefox.contextIdOf(page))})
				.reload(Ci.nsIWebNavigation.LOAD_FLAGS_BYPASS_CACHE | Ci.nsIWebNavigation.LOAD_FLAGS_BYPASS_PROXY)
		})()`)
		await loaded
		return
	}
	const cdp = await chromiumSession(page, 'hardReload')
	try {
		const loaded = page.waitForEvent('load')
		await cdp.send('Page.reload', { ignoreCache: true })
		await loaded
	} finally {
		await cdp.detach()
	}
}

async function chromiumSession(page: Page, helper: string) {
	const engine = page.context().browser()?.browserType().name() ?? 'chromium'
	if (engine !== 'chromium') throw new UnsupportedBrowserError(`${helper}() supports Chromium, and Firefox driven over WebDriver BiDi (channel 'moz-firefox'); not ${engine}.`)
	return page.context().newCDPSession(page)
}

interface BidiSession {
	send(method: string, params: unknown): Promise<unknown>
}

/** Playwright's objects as its in-process driver sees them; Playwright Test always runs the driver in-process. */
interface PlaywrightInternals {
	_connection?: { toImpl?(object: unknown): unknown }
}

interface FirefoxChrome {
	/** Runs script in the browser's own (chrome) scope, where Firefox's service-worker manager and tabs are reachable. */
	evaluate(expression: string): Promise<void>
	contextIdOf(page: Page): string
}

/**
 * Firefox has no BiDi command to stop a worker or to reload past it; its chrome scope has both, and
 * BiDi reaches that scope when Firefox runs with --remote-allow-system-access. These are
 * Playwright internals: the reason @playwright/test is pinned to a minor version.
 */
function firefoxChrome(page: Page): FirefoxChrome | undefined {
	if (page.context().browser()?.browserType().name() !== 'firefox') return undefined
	const toImpl = (object: object) => (object as PlaywrightInternals)._connection?.toImpl?.(object)
	const session = (toImpl(page.context()) as { _browser?: { _browserSession?: BidiSession } } | undefined)?._browser?._browserSession
	if (session === undefined) throw new UnsupportedBrowserError("Firefox helpers need Firefox driven over WebDriver BiDi (channel 'moz-firefox') by an in-process Playwright.")
	return {
		async evaluate(expression) {
			const { contexts } = (await session.send('browsingContext.getTree', { 'moz:scope': 'chrome' })) as { contexts: Array<{ context: string }> }
			const chrome = contexts[0]
			if (chrome === undefined) throw new UnsupportedBrowserError('Firefox shows no chrome scope: launch it with --remote-allow-system-access.')
			const result = (await session.send('script.evaluate', { target: { context: chrome.context }, expression, awaitPromise: false })) as { type: string; exceptionDetails?: { text?: string } }
			if (result.type === 'exception') throw new UnsupportedBrowserError(`Firefox refused the chrome-scope script: ${result.exceptionDetails?.text ?? 'unknown error'}`)
		},
		contextIdOf(target) {
			const id = (toImpl(target) as { delegate?: { _session?: { sessionId?: string } } } | undefined)?.delegate?._session?.sessionId
			if (id === undefined) throw new UnsupportedBrowserError("this Playwright version hides the page's BiDi context id")
			return id
		},
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
	completeProviderSignIn,
	confirmProviderLogout,
	type OidcProvider,
	type OidcProviderOptions,
	type OidcProviderStats,
	type OidcGrantStats,
	type HeadlessSignIn,
} from './oidc-provider.js'
