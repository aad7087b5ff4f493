import { afterEach, describe, expect, it, vi } from 'vitest'
import { keepAlive } from '../../src/transports/keep-alive.js'

/** An exclusive Web Lock as the browser grants it: in order of request; ifAvailable gets null when held; an aborted waiter leaves the queue. */
class FakeLocks {
	#held = false
	readonly #queue: Array<() => void> = []

	request(_name: string, options: LockOptions, callback: (lock: Lock | null) => unknown): Promise<unknown> {
		return new Promise((resolve, reject) => {
			const grant = () => {
				this.#held = true
				Promise.resolve()
					.then(() => callback({ name: _name, mode: 'exclusive' }))
					.then(resolve, reject)
					.finally(() => {
						this.#held = false
						this.#queue.shift()?.()
					})
			}
			if (!this.#held) return grant()
			if (options.ifAvailable) return void Promise.resolve(callback(null)).then(resolve, reject)
			this.#queue.push(grant)
			options.signal?.addEventListener('abort', () => {
				const index = this.#queue.indexOf(grant)
				if (index < 0) return
				this.#queue.splice(index, 1)
				reject(options.signal!.reason)
			})
		})
	}
}

/** One tab: its document's visibility, and how often it pinged. The origin's one lock manager is navigator.locks. */
function tab(locks: FakeLocks, visibility: DocumentVisibilityState) {
	vi.stubGlobal('navigator', { locks })
	const target = new EventTarget()
	const document = {
		visibilityState: visibility,
		addEventListener: target.addEventListener.bind(target),
	}
	const pings = { count: 0 }
	const closed = new AbortController()
	// Each tab's keep-alive reads its own document when it starts.
	vi.stubGlobal('document', document)
	keepAlive(
		async () => {
			pings.count += 1
		},
		1_000,
		closed.signal,
	)
	return {
		pings,
		show(state: DocumentVisibilityState) {
			document.visibilityState = state
			target.dispatchEvent(new Event('visibilitychange'))
		},
		close: () => closed.abort(),
	}
}

afterEach(() => {
	vi.useRealTimers()
	vi.unstubAllGlobals()
})

describe('the keep-alive goes to a visible tab', () => {
	it('the first tab goes out of view: it hands the lock to a visible tab, which pings from then on, and the hidden one stops', async () => {
		vi.useFakeTimers()
		const locks = new FakeLocks()
		const first = tab(locks, 'visible')
		const second = tab(locks, 'visible')
		await vi.advanceTimersByTimeAsync(2_000)
		expect([first.pings.count, second.pings.count]).toEqual([2, 0])

		first.show('hidden')
		first.pings.count = 0
		await vi.advanceTimersByTimeAsync(3_000)
		expect([first.pings.count, second.pings.count]).toEqual([0, 3])
		first.close()
		second.close()
	})

	it('a tab opened in the background does not take the lock from a visible tab that comes later', async () => {
		vi.useFakeTimers()
		const locks = new FakeLocks()
		const background = tab(locks, 'hidden')
		const visible = tab(locks, 'visible')
		await vi.advanceTimersByTimeAsync(3_000)
		expect(visible.pings.count).toBe(3)
		expect(background.pings.count).toBe(0)
		background.close()
		visible.close()
	})

	it('with every tab hidden, a hidden tab still pings, one ping at a time; the first to come back into view takes over', async () => {
		vi.useFakeTimers()
		const locks = new FakeLocks()
		const a = tab(locks, 'hidden')
		const b = tab(locks, 'visible')
		b.show('hidden')
		await vi.advanceTimersByTimeAsync(3_000)
		expect(a.pings.count + b.pings.count).toBeGreaterThanOrEqual(3)

		b.show('visible')
		await vi.advanceTimersByTimeAsync(0)
		a.pings.count = 0
		b.pings.count = 0
		await vi.advanceTimersByTimeAsync(3_000)
		expect([a.pings.count, b.pings.count]).toEqual([0, 3])
		a.close()
		b.close()
	})

	it('a closed tab lets go, so the next visible tab pings', async () => {
		vi.useFakeTimers()
		const locks = new FakeLocks()
		const first = tab(locks, 'visible')
		const second = tab(locks, 'visible')
		first.close()
		await vi.advanceTimersByTimeAsync(2_000)
		expect([first.pings.count, second.pings.count]).toEqual([0, 2])
		second.close()
	})
})
