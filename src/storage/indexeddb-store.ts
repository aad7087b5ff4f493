import type { SessionStore } from '../core/broker-core.js'
import { objectStore } from './indexeddb.js'

const KEY = 'current'

/**
 * persist: 'indexeddb'. Survives a stopped worker, at a price stated in docs/security.md:
 * same-origin page script can read IndexedDB too, refresh token included.
 */
export function openIndexedDbStore(): SessionStore {
	const transact = objectStore('sw-token-broker', 'session')
	return {
		load: () => transact('readonly', (store) => store.get(KEY)),
		save: async (session) => {
			await transact('readwrite', (store) => store.put(session, KEY))
		},
		clear: async () => {
			await transact('readwrite', (store) => store.delete(KEY))
		},
	}
}
