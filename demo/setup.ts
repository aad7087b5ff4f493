import axios from 'axios'
import { Workbox } from 'workbox-window'
import { createTokenClient, oauth2Refresh } from 'sw-token-broker'
import { openIdProvider } from './idp.js'

/**
 * Shared by the demo's pages. The page URL's query (?refresh=cookie&persist=indexeddb) picks
 * the broker mode and is carried to the worker's URL, so one build shows every mode;
 * ?keepalive=ms, ?timeout=ms and ?debug set the client's options (the e2e suite uses them).
 */
const pageQuery = new URLSearchParams(location.search)
const pick = (keys: string[]) => new URLSearchParams([...pageQuery].filter(([key]) => keys.includes(key)))
const asQuery = (params: URLSearchParams) => params.size > 0 ? `?${params}` : ''
/** Carried from page to page, so a tab stays in the mode it was opened in. */
export const carriedQuery = asQuery(pick(['refresh', 'persist', 'idp', 'keepalive', 'timeout', 'debug']))
const workerUrl = `/sw.js${asQuery(pick(['refresh', 'persist', 'idp']))}`
const numberParam = (key: string) => pageQuery.has(key) ? Number(pageQuery.get(key)) : undefined
const keepAliveMs = numberParam('keepalive')
const timeoutMs = numberParam('timeout')

export const idp = openIdProvider(pageQuery)

const workbox = 'serviceWorker' in navigator ? new Workbox(workerUrl) : undefined
const registration = workbox?.register().then((registered) => registered ?? Promise.reject(new Error('service worker not registered')))

export const client = createTokenClient({
	...(registration === undefined ? {} : { serviceWorker: registration }),
	// Without a usable worker (private modes, policy, a failed registration) the broker runs in the page.
	fallback: { refresh: idp === undefined
		? oauth2Refresh({ tokenEndpoint: '/oauth/token', clientId: 'demo' })
		: oauth2Refresh({ tokenEndpoint: idp.tokenEndpoint, clientId: idp.clientId, revocationEndpoint: idp.revocationEndpoint }) },
	loginUrl: `/login${carriedQuery}`,
	...(keepAliveMs === undefined ? {} : { keepAliveMs }),
	...(timeoutMs === undefined ? {} : { timeoutMs }),
	debug: pageQuery.has('debug'),
})

export const api = axios.create()
client.attach(api)

export const cookieMode = pageQuery.get('refresh') === 'cookie'

export async function control(path: string, body?: unknown): Promise<unknown> {
	const response = await fetch(`/__control/${path}`, {
		method: body === undefined && path === 'stats' ? 'GET' : 'POST',
		headers: { 'content-type': 'application/json' },
		...(body === undefined ? {} : { body: JSON.stringify(body) }),
	})
	return response.json().catch(() => undefined)
}
