import axios from 'axios'
import { Workbox } from 'workbox-window'
import { createTokenClient } from 'sw-token-broker'

/**
 * Shared by the demo's pages. The page URL's query (?refresh=cookie&persist=indexeddb) picks
 * the broker mode and is carried to the worker's URL, so one build shows every mode.
 */
const pageQuery = new URLSearchParams(location.search)
const workerQuery = new URLSearchParams()
for (const key of ['refresh', 'persist']) {
	const value = pageQuery.get(key)
	if (value !== null) workerQuery.set(key, value)
}
export const carriedQuery = workerQuery.size > 0 ? `?${workerQuery}` : ''

export const workbox = 'serviceWorker' in navigator ? new Workbox(`/sw.js${carriedQuery}`) : undefined
void workbox?.register()

export const client = createTokenClient({
	...(workbox === undefined ? {} : { serviceWorker: workbox }),
	loginUrl: `/login${carriedQuery}`,
})

export const api = axios.create()
client.attach(api)

export const cookieMode = workerQuery.get('refresh') === 'cookie'

export async function control(path: string, body?: unknown): Promise<unknown> {
	const response = await fetch(`/__control/${path}`, {
		method: body === undefined && path === 'stats' ? 'GET' : 'POST',
		headers: { 'content-type': 'application/json' },
		...(body === undefined ? {} : { body: JSON.stringify(body) }),
	})
	return response.json().catch(() => undefined)
}
