import { CLOCK_RETRY_MS, asksForNonce, refusesProof } from './nonce.js'
import type { Prover } from './prover.js'

/**
 * A request to a token endpoint (a refresh, a code exchange, exchange(), a revocation) with a
 * fresh proof; a `use_dpop_nonce` answer is sent once more with the nonce it carries, and so is an
 * `invalid_dpop_proof` whose Date header showed the local clock far off. The sign-in
 * code exchange hands its request here, or passes `prover.handle` to oauth4webapi: the nonces are
 * the same. The body must be one that can be sent twice (a string or URLSearchParams).
 */
export async function sendWithProof(prover: Prover, url: string, init: RequestInit): Promise<Response> {
	// The presets take relative endpoints ('/oauth/token'), as fetch does in a worker.
	const target = new URL(url, globalThis.location?.href).href
	const attempt = async () => {
		const headers = new Headers(init.headers)
		headers.set('dpop', await prover.proof(init.method ?? 'GET', target))
		const response = await fetch(target, { ...init, headers })
		prover.observe(target, response)
		return response
	}
	const offset = prover.clock.offsetMs
	const first = await attempt()
	const answer = { status: first.status, headers: first.headers, json: () => first.clone().json() }
	// The first request of a device whose clock is minutes off learns the servers' time from its answer.
	const clockWasOff = Math.abs(prover.clock.offsetMs - offset) > CLOCK_RETRY_MS
	if (!(await asksForNonce(answer)) && !(clockWasOff && await refusesProof(answer))) return first
	await first.body?.cancel().catch(() => undefined)
	return attempt()
}
