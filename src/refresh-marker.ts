const DATABASE = 'sw-token-broker-in-page'
const OBJECT_STORE = 'marker'
const KEY = 'generation'

/**
 * The newest generation a tab's refresh produced, for the tab granted the refresh lock next.
 * Kept in IndexedDB because its transactions are ordered at the browser's one backend: a write
 * committed before a Web Lock is released is seen by the next holder, in whatever process.
 * localStorage and BroadcastChannel give no such order. Only a number, never a token.
 */
export interface RefreshMarker {
	read(): Promise<number>
	write(generation: number): Promise<void>
}

export function indexedDbMarker(): RefreshMarker {
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
	/** Settles when the transaction has committed, not merely when its request succeeded. */
	const transact = async <T>(mode: IDBTransactionMode, run: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
		const transaction = (await open()).transaction(OBJECT_STORE, mode)
		const pending = run(transaction.objectStore(OBJECT_STORE))
		return new Promise((resolve, reject) => {
			transaction.oncomplete = () => resolve(pending.result)
			transaction.onerror = () => reject(transaction.error)
			transaction.onabort = () => reject(transaction.error)
		})
	}
	return {
		// Without IndexedDB (some private modes) tabs still adopt each other's sessions; they just cannot be sure when.
		read: () => transact('readonly', (store) => store.get(KEY)).then((value) => typeof value === 'number' ? value : 0, () => 0),
		write: (generation) => transact('readwrite', (store) => store.put(generation, KEY)).then(() => undefined, () => undefined),
	}
}
