import { TokenBrokerError } from './token-broker-error.js'

/** No service worker is registered for this page and createTokenClient was given no fallback. */
export class NoServiceWorkerError extends TokenBrokerError {
	override readonly name = 'NoServiceWorkerError'

	constructor() {
		super('No service worker is registered for this page. Register one that calls createTokenBroker().listen(self) (vite dev: vite-plugin-pwa devOptions { enabled: true, type: "module" }), or give createTokenClient a fallback: { refresh }.')
	}
}
