import axios from 'axios'
import { createTokenClient, type LogoutReason, type TokenClient } from 'sw-token-broker'
import type { SmokeApi } from './smoke-api.js'

const logouts: LogoutReason[] = []

const client: TokenClient = createTokenClient({
	// The page's query picks the worker's token endpoint (see sw.ts).
	serviceWorker: navigator.serviceWorker.register(`/sw.js${location.search}`),
	// The default sends the tab to /login, which this app does not have: record the reason instead.
	onLogout: (reason) => {
		logouts.push(reason)
	},
})

const api = axios.create()
client.attach(api)

async function fire(count: number): Promise<{ ok: number; failed: number; errors: string[] }> {
	const results = await Promise.allSettled(Array.from({ length: count }, () => api.get<{ ok: boolean }>('/api/data')))
	const errors = results.flatMap((result): string[] => {
		if (result.status === 'fulfilled') return result.value.data.ok ? [] : ['not ok']
		const reason: unknown = result.reason
		if (axios.isAxiosError(reason)) return [`${reason.name} ${reason.response?.status ?? reason.code ?? ''}`.trim()]
		return [reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)]
	})
	return { ok: count - errors.length, failed: errors.length, errors }
}

const smoke: SmokeApi = {
	fire,
	signIn: () => client.exchange({ url: '/auth/login', body: { username: 'demo', password: 'demo' } }),
	exchange: (request) => client.exchange(request),
	token: () => client.getAccessToken(),
	logouts,
}

Object.assign(window, { smoke })
