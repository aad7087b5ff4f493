/// <reference lib="webworker" />
import { cleanupOutdatedCaches, precacheAndRoute } from 'workbox-precaching'
import { cookieRefresh, createTokenBroker, oauth2Refresh, openIdProvider } from 'sw-token-broker/sw'
import { openIdProvider as providerOf, providerOptions } from './idp.js'

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: Array<{ url: string; revision: string | null }> }

// The demo picks its broker mode from the worker's URL (/sw.js?refresh=cookie&persist=indexeddb),
// so the e2e suite exercises every mode with one build.
const params = new URL(self.location.href).searchParams
const idp = providerOf(params)

// The e2e suite builds a second version (VITE_DEMO_VERSION=2) to test a deploy with tabs open.
const version = import.meta.env.VITE_DEMO_VERSION ?? '1'
self.addEventListener('message', (event) => {
	if (event.data === 'demo-version') event.ports[0]?.postMessage(version)
})

cleanupOutdatedCaches()
precacheAndRoute(self.__WB_MANIFEST)

createTokenBroker({
	refresh:
		idp !== undefined
			? openIdProvider(providerOptions(idp))
			: params.get('refresh') === 'cookie'
				? cookieRefresh({ url: '/auth/refresh', logoutUrl: '/auth/logout' })
				: oauth2Refresh({ tokenEndpoint: '/oauth/token', clientId: 'demo', revocationEndpoint: '/auth/logout' }),
	persist: params.get('persist') === 'indexeddb' ? 'indexeddb' : 'memory',
	// The e2e suite also signs in headlessly (startOidcProvider().signIn()) and has the broker redeem that code.
	...(idp === undefined ? {} : { exchangeUrls: (url: URL) => url.origin === self.location.origin || url.href === idp.tokenEndpoint }),
	dpop: params.get('dpop') === '1',
}).listen(self)

interface StaticRoutes {
	addRoutes?(rules: Array<{ condition: { urlPattern: { pathname: string } }; source: 'network' }>): Promise<void>
}

self.addEventListener('install', (event) => {
	// ?update=prompt: a new version waits until every tab has closed, as with vite-plugin-pwa's
	// default prompt strategy, and the old one serves meanwhile (the e2e suite tests that hand-over).
	if (params.get('update') !== 'prompt') void self.skipWaiting()
	// API and auth calls skip the worker's fetch handler (Workbox's) altogether: Chromium's
	// static routing sends them straight to the network, off the worker's thread.
	const routes = (event as ExtendableEvent & StaticRoutes).addRoutes?.(
		['/api/*', '/auth/*', '/oauth/*', '/__control/*'].map((pathname) => ({
			condition: { urlPattern: { pathname } },
			source: 'network' as const,
		})),
	)
	if (routes !== undefined) event.waitUntil(routes.catch(() => undefined))
})
self.addEventListener('activate', (event) => {
	event.waitUntil(self.clients.claim())
})
