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
	// Each reason once: a device whose clock is off meeting a server that wants a nonce pays two trips, never a loop.
	let nonceAsked = false
	let clockFixed = false
	for (;;) {
		const offset = prover.clock.offsetMs
		const response = await attempt()
		// Read once, and only when a rule needs it; the caller still gets the body. Not token-response's
		// readJsonBody: importing it into this chunk, which a page loads lazily, costs the page's eager chunk 185 B.
		let read: Promise<string | undefined> | undefined
		const oauthError = () =>
			(read ??= response
				.clone()
				.json()
				.then(
					(body: { error?: unknown } | null) => (typeof body?.error === 'string' ? body.error : undefined),
					() => undefined,
				))
		// The first request of a device whose clock is minutes off learns the servers' time from its answer.
		const clockWasOff = Math.abs(prover.clock.offsetMs - offset) > CLOCK_RETRY_MS
		if (!nonceAsked && (await asksForNonce(response, oauthError))) nonceAsked = true
		else if (!clockFixed && clockWasOff && (await refusesProof(response, oauthError))) clockFixed = true
		else return response
		await response.body?.cancel().catch(() => undefined)
	}
}
