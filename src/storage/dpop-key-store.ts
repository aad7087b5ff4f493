import type { DPoPKeyStore } from '../core/dpop/key-ring.js'
import { objectStore } from './indexeddb.js'

const KEY = 'current'

/**
 * The session's DPoP key pair as CryptoKey objects: IndexedDB keeps a non-extractable key
 * without ever exposing its private part, so a restarted worker or browser signs with it again.
 * Page script of the origin can read the CryptoKey too, and sign with it while it runs; it can
 * never export it (docs/dpop.md: what an attacker can do).
 */
export function openDPoPKeyStore(): DPoPKeyStore {
	const transact = objectStore('sw-token-broker-dpop', 'key')
	return {
		load: () => transact('readonly', (store) => store.get(KEY)),
		save: async (keyPair) => {
			await transact('readwrite', (store) => store.put(keyPair, KEY))
		},
		clear: async () => {
			await transact('readwrite', (store) => store.delete(KEY))
		},
	}
}
