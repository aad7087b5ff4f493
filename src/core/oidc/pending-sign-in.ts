/** The longest a sign-in may stay pending between the redirect to the provider and the callback. */
export const PENDING_SIGN_IN_TTL_MS = 10 * 60_000

/** What the broker keeps for one sign-in under way: never leaves the broker. */
export interface PendingSignIn {
	state: string
	codeVerifier: string
	nonce: string
	redirectUri: string
	/** Path, query and fragment on the broker's origin. */
	returnTo?: string
	/** Epoch ms. */
	createdAt: number
}

/**
 * Where pending sign-ins wait for their callback: IndexedDB in the hosts, so a worker stopped
 * between the redirect and the callback still finishes the sign-in. Several may be pending.
 */
export interface PendingSignIns {
	/** Also drops every sign-in created before `expiredBefore`. */
	put(pending: PendingSignIn, expiredBefore: number): Promise<void>
	/** Removes and returns the sign-in for `state` in one step: a state is redeemed once only. */
	take(state: string): Promise<unknown>
}

/** Where no IndexedDB can be opened: pending sign-ins last as long as the host. */
export function memoryPendingSignIns(): PendingSignIns {
	const pending = new Map<string, PendingSignIn>()
	return {
		async put(entry, expiredBefore) {
			for (const [state, { createdAt }] of pending) if (createdAt < expiredBefore) pending.delete(state)
			pending.set(entry.state, entry)
		},
		async take(state) {
			const entry = pending.get(state)
			pending.delete(state)
			return entry
		},
	}
}

const text = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 4_096

/** A stored record is input like any other: undefined unless it is a whole, unexpired pending sign-in. */
export function readPendingSignIn(value: unknown, state: string, now: number): PendingSignIn | undefined {
	if (typeof value !== 'object' || value === null) return undefined
	const { state: stored, codeVerifier, nonce, redirectUri, returnTo, createdAt } = value as Record<string, unknown>
	if (stored !== state || !text(codeVerifier) || !text(nonce) || !text(redirectUri) || !Number.isFinite(createdAt)) return undefined
	if (returnTo !== undefined && !text(returnTo)) return undefined
	if ((createdAt as number) + PENDING_SIGN_IN_TTL_MS < now || (createdAt as number) > now + 60_000) return undefined
	return { state, codeVerifier, nonce, redirectUri, createdAt: createdAt as number, ...(returnTo === undefined ? {} : { returnTo }) }
}
