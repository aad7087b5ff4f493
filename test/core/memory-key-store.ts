import type { DPoPKeyStore } from '../../src/core/dpop/key-ring.js'

/** A DPoP key store in memory whose `saved` pair a test can look at, as IndexedDB would hold it. */
export function memoryKeyStore(): DPoPKeyStore & { saved: unknown } {
	const store = {
		saved: undefined as unknown,
		load: async () => store.saved,
		save: async (pair: CryptoKeyPair) => {
			store.saved = pair
		},
		clear: async () => {
			store.saved = undefined
		},
	}
	return store
}
