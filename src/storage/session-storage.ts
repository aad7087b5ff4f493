import type { SessionStore } from '../core/broker-core.js'

const KEY = 'sw-token-broker:session'

/**
 * The in-page fallback's store: per tab, so a reload or a navigation within the tab keeps
 * the session, and it ends with the last tab. Script-readable by nature; docs/security.md says so.
 */
export function sessionStorageStore(): SessionStore {
	return {
		async load(): Promise<unknown> {
			const saved = globalThis.sessionStorage?.getItem(KEY)
			return saved == null ? undefined : JSON.parse(saved)
		},
		async save(session) {
			globalThis.sessionStorage?.setItem(KEY, JSON.stringify(session))
		},
		async clear() {
			globalThis.sessionStorage?.removeItem(KEY)
		},
	}
}
