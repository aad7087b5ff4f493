import { TokenBrokerError } from './token-broker-error.js'

/** No service worker is registered for this page and createTokenClient was given no fallback. */
export class NoServiceWorkerError extends TokenBrokerError {
	override readonly name = 'NoServiceWorkerError'

	constructor() {
		super('No service worker is registered for this page, so there is no token broker to ask. Register the worker that calls createTokenBroker().listen(self) (under vite dev: vite-plugin-pwa devOptions: { enabled: true, type: "module" }), or pass fallback: { refresh } to createTokenClient to run the broker in the page.')
	}
}
