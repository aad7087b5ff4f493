import { createTokenBroker, oauth2Refresh, openIdProvider } from 'sw-token-broker/sw'

declare const self: ServiceWorkerGlobalScope

// ?tokenEndpoint=…&clientId=… on the worker's URL: the OpenID provider test refreshes at a provider;
// ?issuer=…: the app signs in there with signIn(), and comes back to its own page.
const params = new URL(self.location.href).searchParams
const issuer = params.get('issuer')

createTokenBroker({
	refresh:
		issuer !== null
			? openIdProvider({ issuer, clientId: 'app', redirectUri: `/?issuer=${encodeURIComponent(issuer)}`, params: { prompt: 'consent' } })
			: oauth2Refresh({ tokenEndpoint: params.get('tokenEndpoint') ?? '/oauth/token', clientId: params.get('clientId') ?? 'consumer' }),
}).listen(self)

self.addEventListener('install', () => {
	void self.skipWaiting()
})
self.addEventListener('activate', (event) => {
	event.waitUntil(self.clients.claim())
})
