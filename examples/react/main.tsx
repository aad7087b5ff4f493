import { StrictMode, useState } from 'react'
import { createRoot } from 'react-dom/client'
import { AuthGate, useAuth } from 'sw-token-broker/react'
import { type Data, client, fire, signIn } from '../client.js'

/** The app's API layer over client.fetch; `responses` counts what it sees, one per call it must be. */
let responses = 0
class ApiError extends Error {
	override readonly name = 'ApiError'

	constructor(readonly status: number) {
		super(`API answered ${status}`)
	}
}
async function getJson(path: string): Promise<Data> {
	const response = await client.fetch(path)
	responses += 1
	if (!response.ok) throw new ApiError(response.status)
	return response.json() as Promise<Data>
}

function Session() {
	const auth = useAuth(client)
	return (
		<p>
			State: <strong id="state">{auth.status}</strong>
		</p>
	)
}

function Orders() {
	const [data, setData] = useState('…')
	return (
		<section className="card actions">
			<h2>Data</h2>
			<p id="data">{data}</p>
			<button
				id="load"
				onClick={() =>
					void getJson('/api/data').then(
						(loaded) => setData(`data #${loaded.n}`),
						(error: Error) => setData(`error: ${error.name}`),
					)
				}
			>
				Load
			</button>
			<button id="logout" onClick={() => void client.logout()}>
				Log out
			</button>
		</section>
	)
}

function App() {
	return (
		<>
			<Session />
			<AuthGate
				client={client}
				connecting={<p>Connecting…</p>}
				signedOut={
					<button id="sign-in" onClick={() => void signIn()}>
						Sign in
					</button>
				}
			>
				<Orders />
			</AuthGate>
		</>
	)
}

createRoot(document.getElementById('root')!).render(
	<StrictMode>
		<App />
	</StrictMode>,
)

Object.assign(window, { swtbExample: { fire: (count: number) => fire(count, getJson), responses: () => responses } })
