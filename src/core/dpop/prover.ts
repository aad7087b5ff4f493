import { DPoP, type DPoPHandle, modifyAssertion } from 'oauth4webapi'
import { sendWithProof } from './send-with-proof.js'
import type { Answer, ServerClock } from './server-clock.js'

/**
 * The two methods every oauth4webapi request function calls on a DPoP handle: make the proof
 * for one request (its nonce for that origin included), and keep the nonce an answer carries.
 * oauth4webapi's typed surface offers them only inside its own fetches; a request made by axios,
 * by a page's fetch or to a non-OAuth login endpoint needs them on their own.
 * test/core/dpop-prover.test.ts fails if a new oauth4webapi drops them.
 */
interface HandleMethods {
	addProof(url: URL, headers: Headers, htm: string, accessToken?: string): Promise<void>
	cacheNonce(response: Answer, url: URL): void
}

/** One session's key at work: proofs, the servers' nonces (per origin), the corrected clock. */
export interface Prover {
	readonly keyPair: CryptoKeyPair
	/**
	 * The same key and nonces as oauth4webapi's DPoP handle, for its own request functions
	 * (`authorizationCodeGrantRequest(…, { DPoP: prover.handle })` in a sign-in's code exchange).
	 */
	readonly handle: DPoPHandle
	readonly clock: ServerClock
	/** RFC 7638 thumbprint of the public key: what a bound token's `cnf.jkt` names. */
	readonly jkt: string
	/** The `DPoP` header for one request: `htu` without query and fragment, `ath` when a token is given. */
	proof(method: string, url: string | URL, accessToken?: string): Promise<string>
	/** Keeps the nonce and the clock an answer from `url` carries. */
	observe(url: string | URL, answer: Answer): void
	/**
	 * A token-endpoint request with a proof (sendWithProof). On the key, so the presets and
	 * exchange() carry no DPoP code of their own, and the in-page fallback bundles none.
	 */
	send(url: string, init: RequestInit): Promise<Response>
}

export async function prover(keyPair: CryptoKeyPair, clock: ServerClock): Promise<Prover> {
	const handle = DPoP({}, keyPair, {
		// iat from the corrected clock, read at each proof: oauth4webapi's clockSkew is fixed when the handle is made.
		[modifyAssertion]: (_header, payload) => {
			payload.iat = Math.floor(clock.now() / 1000)
		},
	})
	const methods = handle as DPoPHandle & HandleMethods
	const self: Prover = {
		keyPair,
		handle,
		clock,
		jkt: await handle.calculateThumbprint(),
		async proof(method, url, accessToken) {
			const headers = new Headers()
			await methods.addProof(new URL(url), headers, method.toUpperCase(), accessToken)
			return headers.get('dpop')!
		},
		observe(url, answer) {
			methods.cacheNonce(answer, new URL(url))
			clock.observe(answer)
		},
		send: (url, init) => sendWithProof(self, url, init),
	}
	return self
}

/** ES256, the private key not extractable: no script, the broker's own included, can take it off the device. */
export function generateKeyPair(): Promise<CryptoKeyPair> {
	return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])
}
