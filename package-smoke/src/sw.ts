import { createTokenBroker, oauth2Refresh } from 'sw-token-broker/sw'

declare const self: ServiceWorkerGlobalScope

createTokenBroker({
	refresh: oauth2Refresh({ tokenEndpoint: '/oauth/token', clientId: 'consumer' }),
}).listen(self)

self.addEventListener('install', () => {
	void self.skipWaiting()
})
self.addEventListener('activate', (event) => {
	event.waitUntil(self.clients.claim())
})
