import type { SessionState } from './protocol.js'

/** Another worker of this registration, as the host sees it: `state` says whether it still runs. */
export interface RegistrationWorker {
	readonly scriptURL: string
	readonly state: string
}

/**
 * Where this worker's session is:
 * - `serving`: here, and it is the live one;
 * - `handed-over`: at `successor`, which took it; the copy kept here is frozen and never used again;
 * - `redundant`: the successor was lost after taking it (its install failed, or it was dropped),
 *   so the frozen copy may be behind (rotated) and was dropped: this worker goes on as one that lost
 *   its memory, and recovers as after a restart (a tab's seed, the cookie, the persisted session).
 */
export type HandoverState<W> = { readonly name: 'serving' } | { readonly name: 'handed-over'; readonly successor: W } | { readonly name: 'redundant' }

export interface HandoverOptions<W> {
	/** This worker's session, once no refresh, exchange or server logout here can still change it. */
	settle(): Promise<SessionState>
	/** The live session, asked of the successor that holds it; undefined when it does not answer in time. */
	ask(successor: W): Promise<SessionState | undefined>
	/** The successor was lost: drop the frozen copy and start over without a session. */
	drop(): void
}

/**
 * Chromium hands a worker the registration's own object for a peer; Firefox a second object for
 * the same worker, so identity alone misses it. Script URL and state together tell two workers of
 * one registration apart: only one of them can be installing, waiting or active at a time.
 */
export function sameWorker(a: RegistrationWorker, b: RegistrationWorker): boolean {
	return a === b || (a.scriptURL === b.scriptURL && a.state === b.state)
}

/**
 * The version hand-over of one worker, as a state machine: serving → handed-over(successor) →
 * redundant. A session leaves this worker only for another worker of its registration (the host
 * checks that); once it has left, requests go to the live successor, never to the frozen copy.
 */
export class Handover<W extends RegistrationWorker> {
	readonly #options: HandoverOptions<W>
	#state: HandoverState<W> = { name: 'serving' }

	constructor(options: HandoverOptions<W>) {
		this.#options = options
	}

	get state(): HandoverState<W> {
		const state = this.#state
		if (state.name === 'handed-over' && state.successor.state === 'redundant') {
			this.#state = { name: 'redundant' }
			this.#options.drop()
		}
		return this.#state
	}

	/** The worker that answers this worker's requests now; undefined: this one does. */
	get successor(): W | undefined {
		const state = this.state
		return state.name === 'handed-over' ? state.successor : undefined
	}

	/**
	 * A worker of the registration asks for the session. Resolves with what to send it, or
	 * undefined to send nothing: it asked already and has it, or the live session did not come.
	 * A worker that handed over passes the request on to its successor and so sends the live
	 * session; the requester is then the successor, as the newest version holding it.
	 */
	async sessionFor(requester: W): Promise<SessionState | undefined> {
		const state = this.state
		if (state.name === 'handed-over' && sameWorker(state.successor, requester)) return undefined
		const session = state.name === 'handed-over' ? await this.#options.ask(state.successor) : await this.#options.settle()
		// Another request moved the session on meanwhile (a repeat of this one): it has gone once.
		if (session === undefined || this.#state !== state) return undefined
		this.#state = { name: 'handed-over', successor: requester }
		return session
	}
}
