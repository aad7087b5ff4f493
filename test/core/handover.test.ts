import { describe, expect, it, vi } from 'vitest'
import { Handover, sameWorker } from '../../src/core/handover.js'
import type { SessionState } from '../../src/core/protocol.js'

const session = (refreshToken: string, generation: number): SessionState => ({ tokens: { accessToken: `A-${refreshToken}`, refreshToken }, generation, ended: null })
const worker = (state: string, scriptURL = 'https://app.test/sw.js') => ({ scriptURL, state })

function handoverWith(live: { ask?: SessionState | undefined } = {}) {
	const options = {
		settle: vi.fn(async () => session('R1', 1)),
		ask: vi.fn(async () => live.ask),
		drop: vi.fn(),
	}
	return { handover: new Handover(options), options }
}

describe('hand-over state machine', () => {
	it('serving: gives its own settled session to the first worker that asks, then names it the successor', async () => {
		const { handover, options } = handoverWith()
		expect(handover.state).toEqual({ name: 'serving' })
		expect(handover.successor).toBeUndefined()
		const v2 = worker('installing')
		expect(await handover.sessionFor(v2)).toEqual(session('R1', 1))
		expect(handover.state).toEqual({ name: 'handed-over', successor: v2 })
		expect(handover.successor).toBe(v2)
		expect(options.settle).toHaveBeenCalledTimes(1)
	})

	it('gives the session once to a worker that asks twice, even when both requests wait together', async () => {
		const { handover, options } = handoverWith()
		const v2 = worker('installing')
		const answers = await Promise.all([handover.sessionFor(v2), handover.sessionFor({ ...v2 })])
		expect(answers.filter((answer) => answer !== undefined)).toHaveLength(1)
		// Asked again once it is the successor: nothing, and the frozen copy is not read.
		expect(await handover.sessionFor({ ...v2 })).toBeUndefined()
		expect(options.settle).toHaveBeenCalledTimes(2)
		expect(options.ask).not.toHaveBeenCalled()
	})

	it('handed over: a newer worker gets the live session from the successor, never the frozen copy, and becomes the successor', async () => {
		const { handover, options } = handoverWith({ ask: session('R2', 2) })
		const v2 = worker('installing')
		await handover.sessionFor(v2)
		v2.state = 'installed'
		const v3 = worker('installing')
		expect(await handover.sessionFor(v3)).toEqual(session('R2', 2))
		expect(options.ask).toHaveBeenCalledWith(v2)
		expect(options.settle).toHaveBeenCalledTimes(1)
		expect(handover.successor).toBe(v3)
	})

	it('handed over: when the successor does not answer, the newer worker gets nothing and the successor stays', async () => {
		const { handover } = handoverWith({ ask: undefined })
		const v2 = worker('installing')
		await handover.sessionFor(v2)
		v2.state = 'installed'
		expect(await handover.sessionFor(worker('installing'))).toBeUndefined()
		expect(handover.successor).toBe(v2)
	})

	it('a lost successor makes it redundant: the frozen copy is dropped once, and nothing is passed on any more', async () => {
		const { handover, options } = handoverWith()
		const v2 = worker('installing')
		await handover.sessionFor(v2)
		v2.state = 'redundant'
		expect(handover.successor).toBeUndefined()
		expect(handover.state).toEqual({ name: 'redundant' })
		expect(options.drop).toHaveBeenCalledTimes(1)
		// What it hands over next is the session it has since (settled again), never the dropped one.
		const v3 = worker('installing')
		expect(await handover.sessionFor(v3)).toEqual(session('R1', 1))
		expect(options.settle).toHaveBeenCalledTimes(2)
		expect(options.ask).not.toHaveBeenCalled()
		expect(options.drop).toHaveBeenCalledTimes(1)
	})

	it('tells two workers of one registration apart by script URL and state, whatever object stands for them', () => {
		expect(sameWorker(worker('installing'), worker('installing'))).toBe(true)
		expect(sameWorker(worker('installing'), worker('installed'))).toBe(false)
		expect(sameWorker(worker('installing'), worker('installing', 'https://app.test/other-sw.js'))).toBe(false)
	})
})
