import { type DeepReadonly, getCurrentInstance, getCurrentScope, onBeforeMount, onScopeDispose, reactive, readonly } from 'vue'
import type { TokenClient } from '../create-token-client.js'
import type { ClientState } from '../session/tab-session.js'

/**
 * The client's auth state as a readonly reactive object (`auth.status` in templates and
 * computed()), following every change until the component or effect scope that asked ends.
 *
 * In a component the subscription starts in onBeforeMount, which a server render never calls:
 * under Nuxt's SSR a component that reads it leaks no listener per request, and on the client it
 * subscribes before its first render.
 */
export function useAuth(client: Pick<TokenClient, 'state' | 'subscribe'>): DeepReadonly<ClientState> {
	const state = reactive<Record<string, unknown>>({})
	const follow = () => {
		const next = client.state as unknown as Record<string, unknown>
		// A key the new state lacks (expiresAt after a logout) goes, rather than keep an old value.
		for (const key of Object.keys(state)) if (!(key in next)) delete state[key]
		Object.assign(state, next)
	}
	follow()
	let stop: (() => void) | undefined
	const start = () => {
		follow()
		stop = client.subscribe(follow)
	}
	if (getCurrentScope() !== undefined) onScopeDispose(() => stop?.())
	if (getCurrentInstance() === null) start()
	else onBeforeMount(start)
	return readonly(state) as unknown as DeepReadonly<ClientState>
}
