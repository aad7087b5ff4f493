import { createRoot } from 'react-dom/client'
import { AuthGate, useAuth } from 'sw-token-broker/react'
import { client } from './client.js'

/** A React app on sw-token-broker/react: the state from useAuth, and UI gated on the session. */
function Status() {
	const auth = useAuth(client)
	return <p id="state">{auth.status}</p>
}

createRoot(document.getElementById('root')!).render(
	<AuthGate client={client} connecting={<p>…</p>} signedOut={<p id="state">signed-out</p>}>
		<Status />
	</AuthGate>,
)
