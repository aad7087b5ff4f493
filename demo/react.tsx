import { QueryClient, QueryClientProvider, useQuery } from '@tanstack/react-query'
import { StrictMode, useSyncExternalStore } from 'react'
import { createRoot } from 'react-dom/client'
import { ApiError, client, control } from './setup.js'

/** The README's recipe: auth state for React, re-rendered on every change and on nothing else. */
function useAuthState() {
	return useSyncExternalStore(client.subscribe, () => client.state)
}

const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } })

async function getJson<T>(path: string): Promise<T> {
	const response = await client.fetch(path)
	if (!response.ok) throw new ApiError(response.status, response.statusText)
	return response.json() as Promise<T>
}

let renders = 0

function Session() {
	renders += 1
	const state = useAuthState()
	return (
		<section className="card">
			<h2>Session</h2>
			<dl>
				<dt>State</dt>
				<dd id="react-state">{state.status}</dd>
				<dt>Expires</dt>
				<dd id="react-expires">{state.expiresAt === undefined ? '—' : new Date(state.expiresAt).toLocaleTimeString()}</dd>
			</dl>
		</section>
	)
}

function Data() {
	const state = useAuthState()
	const query = useQuery({
		queryKey: ['data'],
		queryFn: () => getJson<{ ok: boolean; n: number }>('/api/data'),
		enabled: state.status === 'signed-in',
	})
	return (
		<section className="card actions">
			<h2>Data</h2>
			<p id="react-data">{query.isSuccess ? `data #${query.data.n}` : query.isError ? `error: ${query.error.name}` : '…'}</p>
			<button id="react-refetch" onClick={() => void query.refetch()}>
				Refetch
			</button>
			<button id="react-expire" onClick={() => void control('expire')}>
				Expire token (server)
			</button>
			<button id="react-logout" onClick={() => void client.logout()}>
				Log out
			</button>
		</section>
	)
}

createRoot(document.getElementById('root')!).render(
	<StrictMode>
		<QueryClientProvider client={queryClient}>
			<Session />
			<Data />
		</QueryClientProvider>
	</StrictMode>,
)

Object.assign(window, { swtbDemo: { client, renders: () => renders } })
