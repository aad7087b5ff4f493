import { objectStore } from './indexeddb.js'

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
	const transact = objectStore('sw-token-broker-in-page', 'marker')
	return {
		// Without IndexedDB (some private modes) tabs still adopt each other's sessions; they just cannot be sure when.
		read: () =>
			transact('readonly', (store) => store.get(KEY)).then(
				(value) => (typeof value === 'number' ? value : 0),
				() => 0,
			),
		write: (generation) =>
			transact('readwrite', (store) => store.put(generation, KEY)).then(
				() => undefined,
				() => undefined,
			),
	}
}
