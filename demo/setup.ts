import axios, { type AxiosAdapter, isAxiosError } from 'axios'
import ky from 'ky'
import { Workbox } from 'workbox-window'
import { createTokenClient, oauth2Refresh, openIdProvider } from 'sw-token-broker'
import { attachAxios } from 'sw-token-broker/axios'
import { openIdProvider as providerOf, providerOptions } from './idp.js'

/**
 * Shared by the demo's pages. The page URL's query (?refresh=cookie&persist=indexeddb) picks
 * the broker mode and is carried to the worker's URL, so one build shows every mode (?dpop=1:
 * DPoP-bound tokens); ?update=prompt makes a new worker version wait instead of taking over at once;
 * ?keepalive=ms, ?timeout=ms and ?debug set the client's options, ?adapter=fetch|xhr the
 * axios adapter, ?worker=none registers no service worker (as under vite dev) and
 * ?fallback=none gives the client no in-page fallback (the e2e suite uses them).
 */
const pageQuery = new URLSearchParams(location.search)
const pick = (keys: string[]) => new URLSearchParams([...pageQuery].filter(([key]) => keys.includes(key)))
const asQuery = (params: URLSearchParams) => (params.size > 0 ? `?${params}` : '')
/** Carried from page to page, so a tab stays in the mode it was opened in. */
export const carriedQuery = asQuery(pick(['refresh', 'persist', 'idp', 'dpop', 'update', 'keepalive', 'timeout', 'debug', 'adapter', 'worker', 'fallback']))
const workerUrl = `/sw.js${asQuery(pick(['refresh', 'persist', 'idp', 'dpop', 'update']))}`
const numberParam = (key: string) => (pageQuery.has(key) ? Number(pageQuery.get(key)) : undefined)
const keepAliveMs = numberParam('keepalive')
const timeoutMs = numberParam('timeout')

export const idp = providerOf(pageQuery)

const workbox = 'serviceWorker' in navigator && pageQuery.get('worker') !== 'none' ? new Workbox(workerUrl) : undefined
const registration = workbox?.register().then((registered) => registered ?? Promise.reject(new Error('service worker not registered')))

/** Which host the client really uses, from its `connected` event, and how long after start it came. */
export const connected: { host?: string; afterMs?: number } = {}
const started = performance.now()

export const client = createTokenClient({
	...(registration === undefined ? {} : { serviceWorker: registration }),
	// Without a usable worker (private modes, policy, a failed registration, vite dev) the broker runs in the page.
	...(pageQuery.get('fallback') === 'none'
		? {}
		: {
				fallback: { refresh: idp === undefined ? oauth2Refresh({ tokenEndpoint: '/oauth/token', clientId: 'demo' }) : openIdProvider(providerOptions(idp)) },
			}),
	loginUrl: `/login${carriedQuery}`,
	...(keepAliveMs === undefined ? {} : { keepAliveMs }),
	...(timeoutMs === undefined ? {} : { timeoutMs }),
	debug: pageQuery.has('debug'),
	onEvent: (event) => {
		if (event.type === 'connected') Object.assign(connected, { host: event.host, afterMs: Math.round(performance.now() - started) })
	},
})

/** What the app's own error interceptor turns HTTP failures into, as many apps do. */
export class ApiError extends Error {
	override readonly name = 'ApiError'

	constructor(
		readonly status: number | undefined,
		message: string,
		/** axios's code for an answer that never came (ERR_NETWORK, ECONNABORTED, ERR_CANCELED). */
		readonly code?: string,
	) {
		super(message)
	}
}

const adapter = pageQuery.get('adapter') as AxiosAdapter | 'fetch' | 'xhr' | null
export const api = axios.create(adapter === null ? {} : { adapter })
// An error normaliser registered before attachAxios, and the most common interceptor of all after it:
// the app sees data and its own errors, whichever order it registers them in.
api.interceptors.response.use(undefined, (error: unknown) => Promise.reject(isAxiosError(error) ? new ApiError(error.response?.status, error.message, error.code) : error))
attachAxios(client, api)
// eslint-disable-next-line @typescript-eslint/no-unsafe-return -- axios types data as any; this is the interceptor apps write
api.interceptors.response.use((response) => response.data)

/** ky over client.fetch: the same token, refresh and retry for fetch-based apps. */
export const kyApi = ky.create({ fetch: client.fetch, retry: 0 })

export const cookieMode = pageQuery.get('refresh') === 'cookie'

export async function control(path: string, body?: unknown): Promise<unknown> {
	const response = await fetch(`/__control/${path}`, {
		method: body === undefined && path === 'stats' ? 'GET' : 'POST',
		headers: { 'content-type': 'application/json' },
		...(body === undefined ? {} : { body: JSON.stringify(body) }),
	})
	return response.json().catch(() => undefined)
}
