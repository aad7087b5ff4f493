import { Workbox } from 'workbox-window'
import { createTokenClient, oauth2Refresh } from 'sw-token-broker'

/**
 * What the three framework examples share, as an app would write it once: the demo's service
 * worker (/sw.js) and its dev auth server, and a client that shows its own signed-out UI
 * instead of navigating to a login page.
 */
const workbox = 'serviceWorker' in navigator ? new Workbox('/sw.js') : undefined
const registration = workbox?.register().then((registered) => registered ?? Promise.reject(new Error('service worker not registered')))

export const client = createTokenClient({
	...(registration === undefined ? {} : { serviceWorker: registration }),
	fallback: { refresh: oauth2Refresh({ tokenEndpoint: '/oauth/token', clientId: 'demo' }) },
	// The UI follows useAuth's state: a session that ends shows the sign-in button, in every tab.
	onLogout: () => undefined,
})

/** The broker fetches the token set itself: the refresh token never enters this page. */
export const signIn = () => client.exchange({ url: '/auth/login', body: { username: 'demo', password: 'demo' } })

/** What the app's API layer hands back: the data, never the response. */
export interface Data {
	ok: boolean
	n: number
}

export interface FireOutcome {
	ok: number
	failed: number
	errors: string[]
}

/**
 * For the e2e suite: `count` calls at once through the app's own API layer, to distinct URLs
 * (Chromium's HTTP cache holds identical GETs back until the first answers).
 */
export async function fire(count: number, get: (path: string) => Promise<Data>): Promise<FireOutcome> {
	const results = await Promise.allSettled(
		Array.from({ length: count }, async (_, index) => {
			const data = await get(`/api/data?r=${index}`)
			if (data.ok !== true) throw new Error(`unexpected data: ${JSON.stringify(data)}`)
		}),
	)
	const errors = results.flatMap((result) => (result.status === 'fulfilled' ? [] : [describe(result.reason)]))
	return { ok: count - errors.length, failed: errors.length, errors }
}

function describe(error: unknown): string {
	if (error instanceof Error) return 'status' in error ? `${error.name} ${String(error.status)}` : error.name
	return String(error)
}
