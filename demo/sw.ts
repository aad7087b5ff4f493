/// <reference lib="webworker" />
import { cleanupOutdatedCaches, precacheAndRoute } from 'workbox-precaching'
import { cookieRefresh, createTokenBroker, oauth2Refresh } from 'sw-token-broker/sw'
import { openIdProvider } from './idp.js'

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: Array<{ url: string; revision: string | null }> }

// The demo picks its broker mode from the worker's URL (/sw.js?refresh=cookie&persist=indexeddb),
// so the e2e suite exercises every mode with one build.
const params = new URL(self.location.href).searchParams
const idp = openIdProvider(params)

// The e2e suite builds a second version (VITE_DEMO_VERSION=2) to test a deploy with tabs open.
const version = import.meta.env.VITE_DEMO_VERSION ?? '1'
self.addEventListener('message', (event) => {
	if (event.data === 'demo-version') event.ports[0]?.postMessage(version)
})

cleanupOutdatedCaches()
precacheAndRoute(self.__WB_MANIFEST)

createTokenBroker({
	refresh: idp !== undefined
		? oauth2Refresh({ tokenEndpoint: idp.tokenEndpoint, clientId: idp.clientId, revocationEndpoint: idp.revocationEndpoint })
		: params.get('refresh') === 'cookie'
		? cookieRefresh({ url: '/auth/refresh', logoutUrl: '/auth/logout' })
		: oauth2Refresh({ tokenEndpoint: '/oauth/token', clientId: 'demo', revocationEndpoint: '/auth/logout' }),
	persist: params.get('persist') === 'indexeddb' ? 'indexeddb' : 'memory',
	dpop: params.get('dpop') === '1',
}).listen(self)

interface StaticRoutes {
	addRoutes?(rules: Array<{ condition: { urlPattern: { pathname: string } }; source: 'network' }>): Promise<void>
}

self.addEventListener('install', (event) => {
	void self.skipWaiting()
	// API and auth calls skip the worker's fetch handler (Workbox's) altogether: Chromium's
	// static routing sends them straight to the network, off the worker's thread.
	const routes = (event as ExtendableEvent & StaticRoutes).addRoutes?.(['/api/*', '/auth/*', '/oauth/*', '/__control/*'].map((pathname) => ({
		condition: { urlPattern: { pathname } },
		source: 'network' as const,
	})))
	if (routes !== undefined) event.waitUntil(routes.catch(() => undefined))
})
self.addEventListener('activate', (event) => {
	event.waitUntil(self.clients.claim())
})
