import { type PendingSignIn, type PendingSignIns, memoryPendingSignIns } from '../core/oidc/pending-sign-in.js'
import { objectStore } from './indexeddb.js'

/**
 * Pending sign-ins in their own IndexedDB database, keyed by state: a worker stopped between
 * the redirect and the callback still finishes the sign-in. Where IndexedDB cannot be used
 * (some private modes), they live in memory, as long as the worker does.
 */
export function pendingSignInStore(): PendingSignIns {
	const memory = memoryPendingSignIns()
	if (globalThis.indexedDB === undefined) return memory
	const transact = objectStore('sw-token-broker-sign-in', 'pending')
	return {
		put: (pending, expiredBefore) =>
			transact('readwrite', (store) => {
				const cursor = store.openCursor()
				cursor.onsuccess = () => {
					const entry = cursor.result
					if (entry === null) return
					const createdAt = (entry.value as { createdAt?: number } | undefined)?.createdAt
					// A record without its time (another version's, or damaged) goes too.
					if (createdAt === undefined || createdAt < expiredBefore) entry.delete()
					entry.continue()
				}
				store.put(pending, pending.state)
				return cursor
			}).then(
				() => undefined,
				() => memory.put(pending, expiredBefore),
			),
		// One transaction reads and deletes: two callbacks racing for one state cannot both get it.
		take: (state) =>
			transact('readwrite', (store) => {
				const entry = store.get(state)
				store.delete(state)
				return entry
			}).then(
				(entry: PendingSignIn | undefined) => entry ?? memory.take(state),
				() => memory.take(state),
			),
	}
}
