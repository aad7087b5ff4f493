import type { Page } from '@playwright/test'
import { expect, fire, openSignedInTabs, test } from './fixtures.js'

/** Records every message page script could receive: from the worker, and on any MessagePort. */
function recordMessages(): void {
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
			onmessage.set!.call(this, listener && ((event: MessageEvent) => {
				record(event.data)
				listener.call(this, event)
			}))
		},
	})
}

/** Everything page script can read: window globals (walked), both storages, every IndexedDB database, document.cookie, and the messages it received. */
async function readableByScript(page: Page): Promise<string> {
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

test('after a login through exchange, no refresh token ever issued is readable by page script', async ({ context, server }) => {
	await context.addInitScript(recordMessages)
	const tabs = await openSignedInTabs(context, server, 2)
	// Two refreshes rotate the refresh token twice; every version must stay in the worker.
	for (let cycle = 0; cycle < 2; cycle++) {
		server.expireAccessTokens()
		expect((await fire(tabs[0]!, 3)).ok).toBe(3)
	}
	const issued = server.issuedRefreshTokens()
	expect(issued).toHaveLength(3)
	for (const tab of tabs) {
		const readable = await readableByScript(tab)
		expect(readable).toContain('"swtb":1')
		for (const refreshToken of issued) expect(readable).not.toContain(refreshToken)
	}
})
