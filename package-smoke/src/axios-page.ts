import axios, { isAxiosError } from 'axios'
import { attachAxios } from 'sw-token-broker/axios'
import type { SmokeApi } from './smoke-api.js'
import { client, completeSignIn, logouts } from './client.js'

const api = axios.create()
attachAxios(client, api)
// The interceptor nearly every app registers: calls give the data, not the response.
api.interceptors.response.use((response) => response.data)

async function fire(count: number): Promise<{ ok: number; failed: number; errors: string[] }> {
	const results = await Promise.allSettled(Array.from({ length: count }, (_, index) => api.get<unknown, { ok: boolean }>(`/api/data?r=${index}`)))
	const errors = results.flatMap((result): string[] => {
		if (result.status === 'fulfilled') return result.value.ok ? [] : ['not ok']
		const reason: unknown = result.reason
		if (isAxiosError(reason)) return [`${reason.name} ${reason.response?.status ?? reason.code ?? ''}`.trim()]
		return [reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)]
	})
	return { ok: count - errors.length, failed: errors.length, errors }
}

const smoke: SmokeApi = {
	fire,
	signIn: () => client.exchange({ url: '/auth/login', body: { username: 'demo', password: 'demo' } }),
	exchange: (request) => client.exchange(request),
	signInAtProvider: () => client.signIn(),
	completeSignIn,
	token: () => client.getAccessToken(),
	logouts,
}

Object.assign(window, { smoke })
