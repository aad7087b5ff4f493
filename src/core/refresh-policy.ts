import { RefreshRejectedError } from './errors/refresh-rejected-error.js'
import { RefreshUnavailableError } from './errors/refresh-unavailable-error.js'

/**
 * When a refresh fails, is the session over or should we try again later?
 * Only an explicit RefreshRejectedError ends a session: logging users out because
 * they were offline for a moment is the failure this library exists to prevent.
 */
export function isDefinitive(error: unknown): error is RefreshRejectedError {
	return error instanceof RefreshRejectedError
}

export function asTransient(error: unknown): RefreshUnavailableError {
	if (error instanceof RefreshUnavailableError) return error
	const detail = error instanceof Error ? `${error.name}: ${error.message}` : 'the refresh function failed'
	return new RefreshUnavailableError(detail, { cause: error })
}

/** OAuth errors (RFC 6749 §5.2) that say the broker itself is set up wrong, with what to fix. */
const CONFIGURATION_PROBLEMS: Readonly<Record<string, string>> = {
	invalid_client: 'the identity provider does not accept this client: check the clientId the broker refreshes with, and that the client exists there and may authenticate without a secret',
	unauthorized_client: 'this client may not use the refresh_token grant: allow refresh tokens for it at the identity provider',
	invalid_request: 'the identity provider refuses the refresh request itself: check the token endpoint and the client\'s registration there (Entra ID: the redirect URI must be of type "spa")',
}

/**
 * OpenID Connect errors (Core §3.1.2.6) some providers answer at the token endpoint, Entra ID
 * for Conditional Access: only a new interactive sign-in helps, so retrying could never succeed.
 */
const SIGN_IN_AGAIN: ReadonlySet<string | undefined> = new Set(['interaction_required', 'login_required', 'consent_required'])

/** What a token endpoint's failed answer means: the session is over, or try again later. */
export type TokenFailure = 'rejected' | 'transient'

/**
 * The table "When the session ends" in docs/lifetimes-and-engines.md. Only answers that can never succeed on retry end
 * the session: 401; and with a 4xx, invalid_grant, a configuration error (invalid_client,
 * unauthorized_client, invalid_request) or an OpenID "sign in again" error. A 5xx, 429, 408 or
 * any other 4xx is the server's or the network's trouble of the moment.
 */
export function classifyTokenFailure(status: number, oauthError: string | undefined): TokenFailure {
	if (status === 401) return 'rejected'
	const clientError = status >= 400 && status < 500
	if (clientError && (oauthError === 'invalid_grant' || SIGN_IN_AGAIN.has(oauthError) || configurationProblem(oauthError) !== undefined)) return 'rejected'
	return 'transient'
}

/** The configuration error an OAuth error names, for the console; undefined for any other error. */
export function configurationProblem(oauthError: string | undefined): string | undefined {
	return oauthError !== undefined && Object.hasOwn(CONFIGURATION_PROBLEMS, oauthError) ? CONFIGURATION_PROBLEMS[oauthError] : undefined
}

/** The longest wait between two attempts after a transient failure (spec 6: requests heal within it). */
export const MAX_BACKOFF_MS = 5_000
/** The shortest: a failing endpoint sees at most one attempt per 2 s from one browser. */
export const MIN_BACKOFF_MS = 2_000
/**
 * The longest `Retry-After` the broker honours. The server's word beats the 5 s rule, but a
 * misconfigured header (an hour, a day) must not keep a browser from ever trying again.
 */
export const MAX_RETRY_AFTER_MS = 60_000

/**
 * How long to wait after a transient failure before the next attempt: uniformly jittered
 * between 2 s and 5 s, so tabs and clients do not hammer a recovering endpoint in step, an
 * endpoint never sees more than one attempt per 2 s, and a healed one is tried again within 5 s.
 * A Retry-After (429, 503) lengthens the wait, up to MAX_RETRY_AFTER_MS.
 */
export function backoffMs(random: () => number, retryAfterMs?: number): number {
	const jittered = Math.round(MIN_BACKOFF_MS + (MAX_BACKOFF_MS - MIN_BACKOFF_MS) * random())
	return Math.max(jittered, Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS))
}
