import { CLOCK_RETRY_MS, type NonceAnswer, resourceAsksForNonce, resourceRefusesProof } from '../core/dpop/nonce.js'
import { type Prover, prover } from '../core/dpop/prover.js'
import { serverClock } from '../core/dpop/server-clock.js'
import type { DPoPBinding } from '../core/protocol.js'
import type { Attempt, Outcome } from './authorized-send.js'

/**
 * This tab's prover for the session's key: kept while the key stays the same (by thumbprint; each
 * broadcast brings new CryptoKey objects), so the APIs' nonces and the clock carry over refreshes.
 */
let current: Promise<Prover> | undefined
let currentJkt: string | undefined

function proverFor(binding: DPoPBinding): Promise<Prover> {
	if (current === undefined || currentJkt !== binding.jkt) {
		currentJkt = binding.jkt
		current = prover(binding.keyPair, serverClock(binding.clockOffsetMs))
	}
	return current
}

/**
 * The answer's status and headers, for the server's nonce and clock: a fetch Response, or an axios
 * response (its AxiosHeaders have a case-blind get()), also when axios rejected with it, or
 * Angular's HttpResponse, also as the HttpErrorResponse it rejects with (which is the answer itself).
 */
function answerOf(outcome: Outcome<unknown>): NonceAnswer | undefined {
	const answer = (outcome.ok ? outcome.value : ((outcome.error as { response?: unknown } | null)?.response ?? outcome.error)) as Partial<NonceAnswer> | null | undefined
	return typeof answer?.status === 'number' && typeof answer.headers?.get === 'function' ? (answer as NonceAnswer) : undefined
}

/** The sender's own is not imported: the eager chunk would then have to export it to this lazy one. */
function unwrap<T>(outcome: Outcome<T>): T {
	if (outcome.ok) return outcome.value
	throw outcome.error
}

const settled = <T>(sent: Promise<T>): Promise<Outcome<T>> =>
	sent.then(
		(value) => ({ ok: true as const, value }),
		(error: unknown) => ({ ok: false as const, error }),
	)

/**
 * The DPoP step, one place for both adapters, loaded only by a tab whose token is DPoP-bound: every
 * send carries a fresh proof (htm, htu, iat from the servers' clock, jti, ath, the API's nonce),
 * signed in this tab with the key the broker shares (a postMessage round trip per request would
 * cost more than the signature). A `use_dpop_nonce` 401 is sent once more with the nonce and is no
 * reason to refresh; an `invalid_token` 401 goes the usual way. `base`: what a relative URL counts
 * from, the same the sender authorized it against, so the proof names where the request goes (htu).
 */
export function withProofs<T>(binding: DPoPBinding, attempt: Attempt<T>, base: string | undefined): Attempt<T> {
	const key = proverFor(binding)
	const url = new URL(attempt.url, base).href
	const asksForNonce = (outcome: Outcome<T>) => {
		const answer = answerOf(outcome)
		return answer !== undefined && resourceAsksForNonce(answer)
	}
	const refusesProof = (outcome: Outcome<T>) => {
		const answer = answerOf(outcome)
		return answer !== undefined && resourceRefusesProof(answer)
	}
	/** Whether the last answer moved this tab's clock far: a proof refused then was refused for its iat. */
	let clockMoved = false
	const sendWithProof = async (token: string): Promise<Outcome<T>> => {
		const signer = await key
		const offset = signer.clock.offsetMs
		const outcome = await settled(attempt.send(token, await signer.proof(attempt.method, url, token)))
		const answer = answerOf(outcome)
		if (answer !== undefined) signer.observe(url, answer)
		clockMoved = Math.abs(signer.clock.offsetMs - offset) > CLOCK_RETRY_MS
		return outcome
	}
	return {
		...attempt,
		async send(token) {
			if (token === null) return attempt.send(token)
			// Each reason once, as at the token endpoint: never a loop.
			let nonceAsked = false
			let clockFixed = false
			for (;;) {
				const outcome = await sendWithProof(token)
				if (!nonceAsked && asksForNonce(outcome)) nonceAsked = true
				else if (!clockFixed && clockMoved && refusesProof(outcome)) clockFixed = true
				else return unwrap(outcome)
				attempt.cannotRetry?.()
			}
		},
		refused: (outcome) => !asksForNonce(outcome) && attempt.refused(outcome),
	}
}
