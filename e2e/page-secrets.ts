import type { Page } from '@playwright/test'

/** Records every message page script could receive: from the worker, and on any MessagePort. */
export function recordMessages(): void {
	const seen: string[] = []
	Object.defineProperty(window, '__seenMessages', { value: seen })
	const record = (data: unknown) => {
		try {
			seen.push(JSON.stringify(data))
		} catch {
			seen.push(String(data))
		}
	}
	navigator.serviceWorker?.addEventListener('message', (event) => record(event.data))
	const onmessage = Object.getOwnPropertyDescriptor(MessagePort.prototype, 'onmessage')!
	Object.defineProperty(MessagePort.prototype, 'onmessage', {
		...onmessage,
		set(listener: ((event: MessageEvent) => void) | null) {
			onmessage.set!.call(
				this,
				listener &&
					((event: MessageEvent) => {
						record(event.data)
						listener.call(this, event)
					}),
			)
		},
	})
}

/** Everything page script can read: window globals (walked), both storages, every IndexedDB database, document.cookie, and the messages it received. */
export async function readableByScript(page: Page): Promise<string> {
	return page.evaluate(async () => {
		const parts: string[] = []
		const visited = new WeakSet<object>()
		const walk = (value: unknown, depth: number): void => {
			if (typeof value === 'string') parts.push(value)
			if (typeof value !== 'object' && typeof value !== 'function') return
			if (value === null || depth > 6 || visited.has(value) || value === window.document) return
			visited.add(value)
			for (const key of Object.getOwnPropertyNames(value)) {
				let child: unknown
				try {
					child = (value as Record<string, unknown>)[key]
				} catch {
					continue
				}
				walk(child, depth + 1)
			}
		}
		for (const key of Object.keys(window)) walk((window as unknown as Record<string, unknown>)[key], 0)
		for (const storage of [localStorage, sessionStorage]) {
			for (let i = 0; i < storage.length; i++) parts.push(String(storage.key(i)), String(storage.getItem(storage.key(i)!)))
		}
		for (const info of await indexedDB.databases()) {
			const db = await new Promise<IDBDatabase>((resolve, reject) => {
				const open = indexedDB.open(info.name!)
				open.onsuccess = () => resolve(open.result)
				open.onerror = () => reject(open.error)
			})
			for (const store of Array.from(db.objectStoreNames)) {
				const all = await new Promise<unknown[]>((resolve) => {
					const request = db.transaction(store).objectStore(store).getAll()
					request.onsuccess = () => resolve(request.result)
				})
				parts.push(JSON.stringify(all))
			}
			db.close()
		}
		parts.push(document.cookie)
		parts.push(...(window as unknown as { __seenMessages: string[] }).__seenMessages)
		return parts.join('\n')
	})
}
