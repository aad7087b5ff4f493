import { type Prover, generateKeyPair, prover } from './prover.js'
import { type ServerClock, serverClock } from './server-clock.js'

/** Where the session's key pair outlives the broker's host: a CryptoKey in IndexedDB (see src/storage/dpop-key-store.ts). */
export interface DPoPKeyStore {
	/** Whatever was saved; checked here, so a stale or tampered record cannot break the broker. */
	load(): Promise<unknown>
	save(keyPair: CryptoKeyPair): Promise<void>
	clear(): Promise<void>
}

function isKeyPair(value: unknown): value is CryptoKeyPair {
	const { publicKey, privateKey } = (value ?? {}) as Partial<CryptoKeyPair>
	const es256 = (key: unknown) => key instanceof CryptoKey && key.algorithm.name === 'ECDSA' && (key.algorithm as KeyAlgorithm & { namedCurve?: string }).namedCurve === 'P-256'
	// A private key that could be exported is not one this library made: refused rather than used.
	return es256(publicKey) && es256(privateKey) && privateKey?.extractable === false
}

/**
 * The session's key pair through its lifetime: made at sign-in (one per session), kept in the
 * store so a restarted worker or browser still proves possession, dropped at logout. Where the
 * store fails (no IndexedDB), the key lives in memory, and the session as long as the worker.
 */
export class DPoPKeys {
	readonly clock: ServerClock
	readonly #store: DPoPKeyStore | undefined
	#current: Prover | undefined
	/** A bearer token (a provider without RFC 9449, e.g. Entra ID) is said once, not at every refresh. */
	#saidBearer = false

	constructor(store?: DPoPKeyStore, clock: ServerClock = serverClock()) {
		this.#store = store
		this.clock = clock
	}

	/** Says once in the console when a token came back unbound: dpop is on, but the provider ignores the proofs. */
	check(tokens: { tokenType?: string }): void {
		if (this.#saidBearer || tokens.tokenType?.toLowerCase() === 'dpop') return
		this.#saidBearer = true
		console.warn(
			'sw-token-broker: dpop is on, but the token endpoint answered with a bearer token (token_type is not DPoP): it ignores DPoP proofs, so these tokens are not bound to the key and are sent as Bearer. See docs/dpop.md, "Providers".',
		)
	}

	/** The key of the session now held, if any. */
	get current(): Prover | undefined {
		return this.#current
	}

	/** A reading of the store under way: a refresh waits for it, so it never signs with a key the store has replaced. */
	#reading: Promise<void> = Promise.resolve()

	/** Reads the stored key, once, when the broker starts. */
	restore(): Promise<void> {
		return this.#read(false)
	}

	/**
	 * Reads the stored key again: a session adopted from another broker (the previous worker
	 * version) may have started after this one read the store, with a key of its own.
	 */
	reload(): Promise<void> {
		return this.#read(true)
	}

	#read(replace: boolean): Promise<void> {
		this.#reading = this.#reading.then(async () => {
			const saved = await this.#store?.load().catch(() => undefined)
			if (!isKeyPair(saved) || (!replace && this.#current !== undefined)) return
			const stored = await prover(saved, this.clock)
			// The same key keeps its prover, and with it the nonces it learned.
			if (stored.jkt !== this.#current?.jkt) this.#current = stored
		})
		return this.#reading
	}

	/** A new key for a sign-in; it becomes the session's only once the sign-in succeeds (adopt). */
	async create(): Promise<Prover> {
		return prover(await generateKeyPair(), this.clock)
	}

	async adopt(next: Prover): Promise<void> {
		this.#current = next
		await this.#store?.save(next.keyPair).catch(() => undefined)
	}

	/** The current key, or a new one for a session that has none (tokens handed in by login()). */
	async forRefresh(): Promise<Prover> {
		await this.#reading
		if (this.#current !== undefined) return this.#current
		const next = await this.create()
		await this.adopt(next)
		return next
	}

	/**
	 * Logout: the key is gone from memory at once and from storage once `cleared` settles; the
	 * caller keeps `key` for the revocation it still signs.
	 */
	drop(): { key: Prover | undefined; cleared: Promise<void> } {
		const key = this.#current
		this.#current = undefined
		return { key, cleared: this.#store?.clear().catch(() => undefined) ?? Promise.resolve() }
	}
}
