import type { SmokeApi } from './smoke-api.js'
import { client, completeSignIn, logouts } from './client.js'

/** A fetch-only app: client.fetch and nothing else, so its bundle carries no axios. */
async function fire(count: number): Promise<{ ok: number; failed: number; errors: string[] }> {
	const results = await Promise.allSettled(
		Array.from({ length: count }, async (_, index) => {
			const response = await client.fetch(`/api/data?r=${index}`)
			if (!response.ok) throw new Error(`HTTP ${response.status}`)
			return (await response.json()) as { ok: boolean }
		}),
	)
	const errors = results.flatMap((result): string[] => {
		if (result.status === 'fulfilled') return result.value.ok ? [] : ['not ok']
		const reason: unknown = result.reason
		return [reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)]
	})
	return { ok: count - errors.length, failed: errors.length, errors }
}

const smoke: SmokeApi = {
	fire,
	signIn: () => client.exchange({ url: '/auth/login', json: { username: 'demo', password: 'demo' } }),
	exchange: (request) => client.exchange(request),
	signInAtProvider: () => client.signIn(),
	completeSignIn,
	token: () => client.getAccessToken(),
	logouts,
}

Object.assign(window, { smoke })
