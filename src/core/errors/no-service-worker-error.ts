import { TokenBrokerError } from './token-broker-error.js'
import { troubleshooting } from './troubleshooting.js'

// Replaced by the app's bundler; the long texts below are development builds' only.
declare const process: { readonly env: { readonly NODE_ENV?: string } }

/** No service worker is registered for this page and createTokenClient was given no fallback. */
export class NoServiceWorkerError extends TokenBrokerError {
	override readonly name = 'NoServiceWorkerError'

	constructor() {
		super(
			process.env.NODE_ENV !== 'production'
				? 'No service worker is registered for this page. Register one that calls createTokenBroker().listen(self) (vite dev: vite-plugin-pwa devOptions { enabled: true, type: "module" }), or give createTokenClient a fallback: { refresh }.'
				: `no service worker, no fallback; ${troubleshooting('NoServiceWorkerError')}`,
		)
	}
}
