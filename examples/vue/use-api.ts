import { type Data, client } from '../client.js'

/** The app's composable over client.fetch: it maps each response to its data; `responses` counts what it sees. */
export const seen = { responses: 0 }

export class ApiError extends Error {
	override readonly name = 'ApiError'

	constructor(readonly status: number) {
		super(`API answered ${status}`)
	}
}

export function useApi() {
	return {
		async get(path: string): Promise<Data> {
			const response = await client.fetch(path)
			seen.responses += 1
			if (!response.ok) throw new ApiError(response.status)
			return response.json() as Promise<Data>
		},
	}
}
