import { appendFile, cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Page } from '@playwright/test'
import { startDevAuthServer } from '../testing/index.js'
import { demoDir, expect, expectOneRefreshForAllTabs, fire, fireAcrossNavigation, hardReload, openSignedInTabs, stopServiceWorkers, test } from './fixtures.js'

const accessToken = (page: Page) => page.evaluate(() => (window as any).swtbDemo.client.getAccessToken() as Promise<string | null>)

test.describe('the worker is stopped', () => {
	test('memory mode: open tabs re-seed the access token, and expiry ends the session cleanly', async ({ context, server }) => {
		const tabs = await openSignedInTabs(context, server, 2)
		const token = await accessToken(tabs[0]!)
		await stopServiceWorkers(tabs[0]!)

		const started = Date.now()
		const late = await context.newPage()
		await late.goto(`${server.url}/`)
		await expect(late.locator('#state')).toHaveText('signed in')
		expect(await accessToken(late)).toBe(token)
		expect(await fire(late, 5)).toEqual({ ok: 5, failed: 0, errors: [] })
		console.log(`memory mode: stop → new tab signed in and 5 requests done in ${Date.now() - started} ms`)

		// The refresh token died with the worker: expiry must log out every tab, not hang.
		server.resetStats()
		server.expireAccessTokens()
		expect(await fireAcrossNavigation(late, 3)).toEqual({ ok: 0, failed: 3, errors: Array(3).fill('LoggedOutError') })
		for (const tab of [...tabs, late]) await tab.waitForURL(/\/login/)
		expect(server.stats().refreshCalls).toBe(0)
	})

	test('indexeddb mode: the session survives the stop and refreshes with no user action', async ({ context, server }) => {
		const tabs = await openSignedInTabs(context, server, 3, '?persist=indexeddb')
		await stopServiceWorkers(tabs[0]!)
		const elapsed = await expectOneRefreshForAllTabs(server, tabs)
		console.log(`indexeddb mode: stop → 60 requests after expiry done in ${elapsed} ms`)

		await tabs[0]!.getByRole('button', { name: 'Log out' }).click()
		for (const tab of tabs) await tab.waitForURL(/\/login/)
		const stored = await tabs[0]!.evaluate(
			() =>
				new Promise<number>((resolve, reject) => {
					const open = indexedDB.open('sw-token-broker')
					open.onerror = () => reject(open.error)
					open.onsuccess = () => {
						const count = open.result.transaction('session').objectStore('session').count()
						count.onsuccess = () => resolve(count.result)
					}
				}),
		)
		expect(stored).toBe(0)
	})

	test('cookie refresh: after a stop the broker simply refreshes, once for all tabs', async ({ context, server }) => {
		const tabs = await openSignedInTabs(context, server, 3, '?refresh=cookie')
		await stopServiceWorkers(tabs[0]!)
		const elapsed = await expectOneRefreshForAllTabs(server, tabs)
		console.log(`cookie mode: stop → 60 requests after expiry done in ${elapsed} ms`)
	})

	test('stopped mid-refresh: every waiting request settles within timeoutMs, and nothing loops', async ({ context, server }) => {
		const timeoutMs = 4_000
		const tabs = await openSignedInTabs(context, server, 2, `?timeout=${timeoutMs}`)
		server.resetStats()
		server.setRefreshDelay(2_000)
		server.expireAccessTokens()
		const started = Date.now()
		const pending = tabs.map((tab) => fireAcrossNavigation(tab, 10))
		await expect.poll(() => server.stats().refreshCalls).toBe(1)
		await stopServiceWorkers(tabs[0]!)
		const outcomes = await Promise.all(pending)
		const elapsed = Date.now() - started
		console.log(`stopped mid-refresh: all 20 requests settled in ${elapsed} ms: ${JSON.stringify(outcomes.map((o) => o.errors[0] ?? 'ok'))}`)
		expect(elapsed).toBeLessThan(timeoutMs + 3_000)
		for (const outcome of outcomes) {
			expect(outcome.ok + outcome.failed).toBe(10)
			for (const error of outcome.errors) expect(['BrokerTimeoutError', 'LoggedOutError', 'RefreshUnavailableError']).toContain(error)
		}
		server.setRefreshDelay(0)
		// Whatever the restarted worker decides, it decides once: no refresh storm.
		await Promise.all(tabs.map((tab) => fireAcrossNavigation(tab, 5).catch(() => undefined)))
		expect(server.stats().refreshCalls).toBeLessThanOrEqual(2)
	})
})

test('memory mode keep-alive: one tab at a time pings the worker', async ({ context, server }) => {
	await context.addInitScript(() => {
		const pings = { count: 0 }
		Object.defineProperty(window, '__pings', { value: pings })
		const post = ServiceWorker.prototype.postMessage
		ServiceWorker.prototype.postMessage = function (this: ServiceWorker, message: any, ...rest: any[]) {
			if (message?.type === 'ping') pings.count++
			return (post as any).call(this, message, ...rest)
		} as typeof post
	})
	const tabs = await openSignedInTabs(context, server, 3, '?keepalive=300')
	await tabs[0]!.waitForTimeout(2_000)
	const counts = await Promise.all(tabs.map((tab) => tab.evaluate(() => (window as any).__pings.count as number)))
	console.log(`keep-alive pings per tab over ~2 s: ${JSON.stringify(counts)}`)
	expect(counts.filter((count) => count > 0)).toHaveLength(1)
	expect(Math.max(...counts)).toBeGreaterThanOrEqual(4)

	// When the pinging tab closes, another one takes over.
	const pinger = counts.findIndex((count) => count > 0)
	const rest = tabs.filter((_, index) => index !== pinger)
	const before = await Promise.all(rest.map((tab) => tab.evaluate(() => (window as any).__pings.count as number)))
	await tabs[pinger]!.close()
	await rest[0]!.waitForTimeout(1_500)
	const after = await Promise.all(rest.map((tab) => tab.evaluate(() => (window as any).__pings.count as number)))
	expect(after.filter((count, index) => count > before[index]!)).toHaveLength(1)
})

test('the keep-alive goes to a visible tab: the pinging tab goes out of view and another tab pings instead', async ({ context, server }) => {
	await context.addInitScript(() => {
		const pings = { count: 0 }
		Object.defineProperty(window, '__pings', { value: pings })
		const post = ServiceWorker.prototype.postMessage
		ServiceWorker.prototype.postMessage = function (this: ServiceWorker, message: any, ...rest: any[]) {
			if (message?.type === 'ping') pings.count++
			return (post as any).call(this, message, ...rest)
		} as typeof post
	})
	const pings = (tab: Page) => tab.evaluate(() => (window as any).__pings.count as number)
	// Headless tabs are all visible: the page is told it is hidden as the browser would tell it.
	const hide = (tab: Page) =>
		tab.evaluate(() => {
			Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true })
			document.dispatchEvent(new Event('visibilitychange'))
		})
	const tabs = await openSignedInTabs(context, server, 2, '?keepalive=300')
	await tabs[0]!.waitForTimeout(1_500)
	const first = await Promise.all(tabs.map(pings))
	const pinger = first.findIndex((count) => count > 0)
	expect(pinger).toBeGreaterThanOrEqual(0)
	const [hidden, visible] = pinger === 0 ? [tabs[0]!, tabs[1]!] : [tabs[1]!, tabs[0]!]
	await hide(hidden)
	const before = [await pings(hidden), await pings(visible)]
	await visible.waitForTimeout(1_500)
	const after = [await pings(hidden), await pings(visible)]
	console.log(`keep-alive pings before and after the pinging tab was hidden: ${JSON.stringify({ before, after })}`)
	expect(after[0]).toBe(before[0])
	expect(after[1]! - before[1]!).toBeGreaterThanOrEqual(3)
})

test('a new worker version taking over keeps the session, with no reload and no login', async ({ context }) => {
	// A folder of our own, so the "deploy" can swap the worker under a running server.
	const root = await mkdtemp(join(tmpdir(), 'swtb-deploy-'))
	await cp(demoDir, root, { recursive: true })
	const server = await startDevAuthServer({ staticDir: root, accessTtlMs: 60_000 })
	try {
		const tabs = await openSignedInTabs(context, server, 3)
		const version = (tab: Page) =>
			tab.evaluate(
				() =>
					new Promise<string>((resolve) => {
						void navigator.serviceWorker.ready.then((registration) => {
							const channel = new MessageChannel()
							channel.port1.onmessage = (event) => resolve(event.data)
							registration.active!.postMessage('demo-version', [channel.port2])
						})
					}),
			)
		expect(await version(tabs[0]!)).toBe('1')

		await cp(fileURLToPath(new URL('../dist-demo-v2', import.meta.url)), root, { recursive: true })
		const switched = tabs.map((tab) => tab.evaluate(() => new Promise<void>((resolve) => navigator.serviceWorker.addEventListener('controllerchange', () => resolve(), { once: true }))))
		await tabs[0]!.evaluate(() => navigator.serviceWorker.ready.then((registration) => registration.update()))
		await Promise.all(switched)
		expect(await version(tabs[1]!)).toBe('2')

		await expectOneRefreshForAllTabs(server, tabs)
		for (const tab of tabs) await expect(tab.locator('#state')).toHaveText('signed in')
		expect(server.stats().logins).toBe(0)
	} finally {
		await server.close()
		await rm(root, { recursive: true, force: true })
	}
})

test('with a new version waiting (prompt strategy): no window gets the session from the old one, and a third version gets the rotated one', async ({ context }) => {
	const root = await mkdtemp(join(tmpdir(), 'swtb-deploy-'))
	await cp(demoDir, root, { recursive: true })
	const server = await startDevAuthServer({ staticDir: root, accessTtlMs: 60_000 })
	try {
		const tabs = await openSignedInTabs(context, server, 2, '?update=prompt')
		/** Checks for an update and waits until a version other than the current waiting one is installed and waiting. */
		const newVersionWaits = (tab: Page) =>
			tab.evaluate(async () => {
				const registration = await navigator.serviceWorker.ready
				const before = registration.waiting
				await registration.update()
				const deadline = Date.now() + 20_000
				while (!(registration.waiting !== null && registration.waiting !== before && registration.waiting.state === 'installed') && Date.now() < deadline) {
					await new Promise((resolve) => setTimeout(resolve, 50))
				}
				return registration.waiting !== null && registration.waiting !== before && registration.active !== null
			})

		await cp(fileURLToPath(new URL('../dist-demo-v2', import.meta.url)), root, { recursive: true })
		expect(await newVersionWaits(tabs[0]!)).toBe(true)

		// A window asks the old worker, its controller, for the whole session, as only a new version may.
		const answer = await tabs[1]!.evaluate(
			() =>
				new Promise<unknown>((resolve) => {
					const channel = new MessageChannel()
					channel.port1.onmessage = (event) => resolve(event.data)
					navigator.serviceWorker.controller!.postMessage({ swtb: 1, type: 'session-request' }, [channel.port2])
					setTimeout(() => resolve('no answer'), 3_000)
				}),
		)
		expect(JSON.stringify(answer)).not.toContain('refreshToken')
		expect(answer).toMatchObject({ type: 'reply', ok: false, error: { name: 'ProtocolError' } })

		// The tabs still talk to the old worker; the waiting version refreshes, rotating the refresh token.
		await expectOneRefreshForAllTabs(server, tabs, 5)

		// A third version: it must get the rotated session, not the old worker's copy from before the hand-over.
		await appendFile(join(root, 'sw.js'), '\n// v3\n')
		expect(await newVersionWaits(tabs[0]!)).toBe(true)
		await expectOneRefreshForAllTabs(server, tabs, 5)
		for (const tab of tabs) await expect(tab.locator('#state')).toHaveText('signed in')
		expect(server.stats().logins).toBe(0)
	} finally {
		await server.close()
		await rm(root, { recursive: true, force: true })
	}
})

test('a hard-reloaded tab (no controller) gets tokens and broadcasts, and its requests work', async ({ context, server }) => {
	const tabs = await openSignedInTabs(context, server, 3)
	await hardReload(tabs[1]!)
	expect(await tabs[1]!.evaluate(() => navigator.serviceWorker.controller)).toBeNull()
	await expect(tabs[1]!.locator('#state')).toHaveText('signed in')

	await expectOneRefreshForAllTabs(server, tabs)

	// A refresh made by another tab reaches the uncontrolled one as a broadcast.
	server.expireAccessTokens()
	expect(await fire(tabs[0]!, 1)).toEqual({ ok: 1, failed: 0, errors: [] })
	await expect.poll(() => accessToken(tabs[1]!)).toBe(await accessToken(tabs[0]!))
	expect(server.stats().refreshCalls).toBe(2)
})

test.describe('no service worker: the broker runs in the page', () => {
	test('without navigator.serviceWorker: 5 tabs × 20 requests → one refresh, login and logout reach every tab', async ({ context, server }) => {
		await context.addInitScript(() => {
			delete (Navigator.prototype as { serviceWorker?: unknown }).serviceWorker
		})
		const tabs = await openSignedInTabs(context, server, 5)
		expect(await tabs[0]!.evaluate(() => 'serviceWorker' in navigator)).toBe(false)
		for (let cycle = 0; cycle < 2; cycle++) await expectOneRefreshForAllTabs(server, tabs)
		await tabs[2]!.getByRole('button', { name: 'Log out' }).click()
		for (const tab of tabs) await tab.waitForURL(/\/login/)
	})

	test('a slow BroadcastChannel and stale localStorage cannot make the next lock holder refresh with a rotated token', async ({ context, server }) => {
		await context.addInitScript(() => {
			delete (Navigator.prototype as { serviceWorker?: unknown }).serviceWorker
			// Neither BroadcastChannel messages nor localStorage writes are ordered with the Web Lock
			// across tab processes: here both trail it by 400 ms. IndexedDB transactions are ordered.
			const delayed = <A extends unknown[]>(send: (...args: A) => void) =>
				function (this: unknown, ...args: A) {
					const delayMs = (window as { swtbChannelDelayMs?: number }).swtbChannelDelayMs ?? 0
					if (delayMs === 0) send.apply(this, args)
					else setTimeout(() => send.apply(this, args), delayMs)
				}
			BroadcastChannel.prototype.postMessage = delayed(BroadcastChannel.prototype.postMessage)
			Storage.prototype.setItem = delayed(Storage.prototype.setItem)
		})
		const tabs = await openSignedInTabs(context, server, 3)
		for (const tab of tabs) await tab.evaluate(() => Object.assign(window, { swtbChannelDelayMs: 400 }))
		for (let cycle = 0; cycle < 2; cycle++) await expectOneRefreshForAllTabs(server, tabs)
	})

	test('when register() rejects: the same guarantees', async ({ context, server }) => {
		await context.addInitScript(() => {
			ServiceWorkerContainer.prototype.register = () => Promise.reject(new Error('blocked by policy'))
		})
		const tabs = await openSignedInTabs(context, server, 3)
		expect(await tabs[0]!.evaluate(() => navigator.serviceWorker.getRegistrations().then((all) => all.length))).toBe(0)
		await expectOneRefreshForAllTabs(server, tabs)
	})
})
