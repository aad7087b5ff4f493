import type { SignInOptions } from '../core/protocol.js'
import type { TabSession } from './tab-session.js'

/** client.signIn() and completeSignIn(), loaded on first use. */
export async function signIn(session: TabSession, options: SignInOptions = {}): Promise<void> {
	const authorization = await session.signInStep({ type: 'sign-in', options })
	if (authorization !== undefined) globalThis.location.assign(authorization)
}

export async function completeSignIn(session: TabSession, url: string = globalThis.location.href): Promise<{ returnTo?: string }> {
	const returnTo = await session.signInStep({ type: 'complete-sign-in', url })
	return returnTo === undefined ? {} : { returnTo }
}
