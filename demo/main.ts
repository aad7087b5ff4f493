import { HTTPError } from 'ky'
import { ApiError, api, client, connected, control, idp, kyApi } from './setup.js'

const $ = (id: string) => document.getElementById(id) as HTMLElement
let expiresAt: number | undefined

function log(text: string): void {
	const item = document.createElement('li')
	item.textContent = `${new Date().toLocaleTimeString()} ${text}`
	$('events').prepend(item)
}

function showToken(accessToken: string | null): void {
	$('state').textContent = accessToken === null ? 'signed out' : 'signed in'
	$('token').textContent = accessToken === null ? '—' : `${accessToken.slice(0, 24)}…`
}

/** The ID token's claims, from signIn() at the OpenID provider. */
function showUser(): void {
	const { user } = client.state
	$('user').textContent = user === undefined ? '—' : String(user.name ?? user.sub)
}

client.subscribe((event) => {
	if (event.type === 'state') showUser()
	else if (event.type === 'token') {
		expiresAt = event.expiresAt
		showToken(event.accessToken)
		log('new access token')
	} else if (event.type === 'logout') {
		expiresAt = undefined
		showToken(null)
		log(`logged out (${event.reason})`)
	}
})

export type Via = 'axios' | 'ky' | 'fetch'

/** One request the way the app's code would make it; resolves to its data. */
function request(via: Via, url: string): Promise<unknown> {
	switch (via) {
		case 'axios':
			return api.get(url)
		case 'ky':
			return kyApi.get(url.slice(1), { prefixUrl: location.origin }).json()
		case 'fetch':
			return client.fetch(url).then((response) => (response.ok ? response.json() : Promise.reject(new ApiError(response.status, response.statusText))))
	}
}

function describe(reason: unknown): string {
	if (reason instanceof ApiError) return `ApiError ${reason.status ?? reason.code ?? ''}`.trim()
	if (reason instanceof HTTPError) return `HTTPError ${reason.response.status}`
	return reason instanceof Error ? reason.name : String(reason)
}

/** Fires n requests at once and reports how each settled; the e2e tests call it too. */
async function fire(count: number, path = '/api/data', via: Via = 'axios'): Promise<{ ok: number; failed: number; errors: string[] }> {
	// Distinct URLs, as an app's requests are: Chromium's HTTP cache holds identical GETs back until the first answers.
	const separator = path.includes('?') ? '&' : '?'
	const results = await Promise.allSettled(
		Array.from({ length: count }, async (_, index) => {
			const data = await request(via, `${path}${separator}r=${index}`)
			// The app's own interceptor hands over the data, never the response.
			if ((data as { ok?: unknown } | null)?.ok !== true) throw new Error(`unexpected data: ${JSON.stringify(data)}`)
		}),
	)
	const errors = results.flatMap((result) => (result.status === 'fulfilled' ? [] : [describe(result.reason)]))
	return { ok: count - errors.length, failed: errors.length, errors }
}

/** Async work of a button or a timer, with its failure in the log rather than lost as an unhandled rejection. */
const logged = (work: () => Promise<void>) => () => {
	work().catch((error: unknown) => log(`failed: ${error instanceof Error ? error.message : String(error)}`))
}

$('fire').addEventListener(
	'click',
	logged(async () => {
		const count = Math.max(1, Number(($('count') as HTMLInputElement).value) || 1)
		const outcome = await fire(count)
		$('result').textContent = `${outcome.ok} of ${count} requests succeeded${outcome.failed ? ` — ${outcome.errors[0]}` : ''}`
		log(`fired ${count}: ${outcome.ok} ok`)
	}),
)
$('expire').addEventListener(
	'click',
	logged(async () => {
		await control('expire')
		log('server expired every access token')
	}),
)
$('logout').addEventListener('click', () => {
	void client.logout()
})
// RP-initiated logout: every tab logs out, then this one goes to the provider's end-session page.
$('end-session').hidden = idp === undefined
$('end-session').addEventListener('click', () => {
	void client.logout({ endSession: true })
})

setInterval(() => {
	$('expires').textContent = expiresAt === undefined ? '—' : `${Math.max(0, (expiresAt - Date.now()) / 1000).toFixed(1)} s`
}, 200)
setInterval(
	logged(async () => {
		const stats = (await control('stats')) as { refreshCalls: number; api401: number; reuseDetections: number } | undefined
		if (stats === undefined) return
		$('refresh-calls').textContent = String(stats.refreshCalls)
		$('api-401').textContent = String(stats.api401)
		$('reuse').textContent = String(stats.reuseDetections)
	}),
	1000,
)

const token = await client.getAccessToken().catch(() => null)
showToken(token)
showUser()
if (token === null) location.assign(`/login${location.search}`)

Object.assign(window, { swtbDemo: { client, api, kyApi, fire, control, connected } })
