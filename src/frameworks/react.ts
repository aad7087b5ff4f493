import { type ReactNode, useSyncExternalStore } from 'react'
import type { TokenClient } from '../create-token-client.js'
import type { ClientState } from '../session/tab-session.js'

/** What a server render shows: no client runs there, and hydration must start from the same state. */
const SERVER_STATE: ClientState = { status: 'connecting' }
const serverState = () => SERVER_STATE

/**
 * The client's auth state, re-rendering on every change and on nothing else: `client.state` keeps
 * its identity until it changes, as useSyncExternalStore needs.
 */
export function useAuth(client: Pick<TokenClient, 'state' | 'subscribe'>): ClientState {
	return useSyncExternalStore(client.subscribe, () => client.state, serverState)
}

/** Props of {@link AuthGate}. */
export interface AuthGateProps {
	client: Pick<TokenClient, 'state' | 'subscribe'>
	/** Rendered once signed in. */
	children?: ReactNode
	/** Rendered once the client knows there is no session (default: nothing). */
	signedOut?: ReactNode
	/** Rendered while the client asks the broker for the session (default: nothing), so a signed-in user never sees the signed-out UI flash. */
	connecting?: ReactNode
}

/** Renders its children only while signed in: UI that needs a session, and the sign-in UI beside it. */
export function AuthGate({ client, children, signedOut = null, connecting = null }: AuthGateProps): ReactNode {
	const { status } = useAuth(client)
	return status === 'signed-in' ? children : status === 'signed-out' ? signedOut : connecting
}
