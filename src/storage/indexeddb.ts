/**
 * One object store in its own IndexedDB database, opened on first use. Each call is one
 * transaction, settled once it has committed, not merely when its request succeeded.
 */
export function objectStore(database: string, name: string) {
	let opened: Promise<IDBDatabase> | undefined
	const open = () => {
		opened ??= new Promise<IDBDatabase>((resolve, reject) => {
			const opening = indexedDB.open(database, 1)
			opening.onupgradeneeded = () => opening.result.createObjectStore(name)
			opening.onsuccess = () => {
				const db = opening.result
				// Closed by the browser, or asked to let an upgrade or deletion through: open anew next time.
				db.onclose = () => {
					opened = undefined
				}
				db.onversionchange = () => {
					db.close()
					opened = undefined
				}
				resolve(db)
			}
			opening.onerror = () => reject(opening.error)
		}).catch((error: unknown) => {
			opened = undefined
			throw error
		})
		return opened
	}
	return async <T>(mode: IDBTransactionMode, run: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
		const transaction = (await open()).transaction(name, mode)
		const pending = run(transaction.objectStore(name))
		return new Promise((resolve, reject) => {
			transaction.oncomplete = () => resolve(pending.result)
			transaction.onerror = () => reject(transaction.error)
			transaction.onabort = () => reject(transaction.error)
		})
	}
}
