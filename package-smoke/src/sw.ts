import { createTokenBroker, oauth2Refresh } from 'sw-token-broker/sw'

declare const self: ServiceWorkerGlobalScope

// ?tokenEndpoint=…&clientId=… on the worker's URL: the OpenID provider test refreshes at a provider.
const params = new URL(self.location.href).searchParams

createTokenBroker({
	refresh: oauth2Refresh({ tokenEndpoint: params.get('tokenEndpoint') ?? '/oauth/token', clientId: params.get('clientId') ?? 'consumer' }),
}).listen(self)

self.addEventListener('install', () => {
	void self.skipWaiting()
})
self.addEventListener('activate', (event) => {
	event.waitUntil(self.clients.claim())
})
