import type { SessionStore } from '../src/core/broker-core.js'

const DATABASE = 'sw-token-broker'
const OBJECT_STORE = 'session'
const KEY = 'current'

function request<T>(open: () => IDBRequest<T>): Promise<T> {
	return new Promise((resolve, reject) => {
		const pending = open()
		pending.onsuccess = () => resolve(pending.result)
		pending.onerror = () => reject(pending.error)
	})
}

/**
 * persist: 'indexeddb'. Survives a stopped worker, at a price stated in the README:
 * same-origin page script can read IndexedDB too, refresh token included.
 */
export function openIndexedDbStore(): SessionStore {
	let database: Promise<IDBDatabase> | undefined
	const open = () => {
		database ??= new Promise((resolve, reject) => {
			const opening = indexedDB.open(DATABASE, 1)
			opening.onupgradeneeded = () => opening.result.createObjectStore(OBJECT_STORE)
			opening.onsuccess = () => resolve(opening.result)
			opening.onerror = () => reject(opening.error)
		})
		return database
	}
	const withStore = async <T>(mode: IDBTransactionMode, run: (store: IDBObjectStore) => IDBRequest<T>) => {
		const db = await open()
		return request(() => run(db.transaction(OBJECT_STORE, mode).objectStore(OBJECT_STORE)))
	}
	return {
		load: () => withStore('readonly', (store) => store.get(KEY)),
		save: async (session) => {
			await withStore('readwrite', (store) => store.put(session, KEY))
		},
		clear: async () => {
			await withStore('readwrite', (store) => store.delete(KEY))
		},
	}
}
