/** The WebKit suite: `npm run test:webkit` (under xvfb-run). Each test gets its own browser and dev server. */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDevAuthServer } from '../testing/index.js'
import './signin.js'
import { type FireOutcome, type Tab, check, checkEqual, demoDir, demoReady, demoV2Dir, expectOneRefreshForAllTabs, openSignedInTabs, run, test, waitFor } from './harness.js'

test('login in one tab reaches every tab; logout in one tab logs out every tab', async ({ browser, server }) => {
	const tabs: Tab[] = []
	for (let i = 0; i < 3; i++) tabs.push(await browser.newTab(`${server.url}/login`))
	for (const tab of tabs) await demoReady(tab)
	await tabs[0]!.click('Sign in')
	for (const tab of tabs) {
		await tab.waitForPath('/')
		await tab.waitForState('signed in')
	}
	checkEqual(server.stats().logins, 1, 'logins')

	await tabs[1]!.click('Log out')
	for (const tab of tabs) await tab.waitForPath('/login')
	checkEqual(server.stats().refreshCalls, 0, 'refresh calls')
})

test('5 tabs × 20 concurrent requests after expiry: all succeed with exactly one refresh, over 3 cycles', async ({ browser, server, note }) => {
	const tabs = await openSignedInTabs(browser, server, 5)
	check(await tabs[0]!.run<boolean>('return navigator.serviceWorker.controller !== null'), 'the tabs are controlled by the worker')
	for (let cycle = 1; cycle <= 3; cycle++) {
		const { elapsedMs, ok } = await expectOneRefreshForAllTabs(server, tabs)
		note(
			`cycle ${cycle}: ${ok} of 100 requests ok in ${elapsedMs} ms (1.5 s of it the refresh's delay), ${server.stats().refreshCalls} refresh call, ${server.stats().reuseDetections} reuse detections`,
		)
	}
})

test('client.fetch and ky over it: 3 tabs × 10 requests each way after expiry, one refresh per expiry', async ({ browser, server, note }) => {
	const tabs = await openSignedInTabs(browser, server, 3)
	for (const via of ['fetch', 'ky'] as const) {
		const { elapsedMs, ok } = await expectOneRefreshForAllTabs(server, tabs, 10, via)
		note(`${via}: ${ok} of 30 requests ok in ${elapsedMs} ms, 1 refresh call`)
	}
})

test('a rejected refresh logs out every tab, rejects queued requests with LoggedOutError, and stops refreshing', async ({ browser, server }) => {
	const tabs = await openSignedInTabs(browser, server, 3)
	server.resetStats()
	server.revokeAll()
	server.setRefreshDelay(2_000)
	for (const [index, tab] of tabs.entries()) await tab.startFiring(5, `rejected-${index}`)
	for (const [index, tab] of tabs.entries()) checkEqual(await tab.collect(`rejected-${index}`), { ok: 0, failed: 5, errors: Array(5).fill('LoggedOutError') }, `tab ${index}`)
	for (const tab of tabs) await tab.waitForPath('/login')
	checkEqual(server.stats().refreshCalls, 1, 'refresh calls')
	await demoReady(tabs[0]!)
	checkEqual(await tabs[0]!.run(`return window.swtbDemo.client.refresh().then(() => 'refreshed', (error) => error.name)`), 'LoggedOutError', 'a refresh after the logout')
	checkEqual(server.stats().refreshCalls, 1, 'refresh calls after the logout')
	checkEqual(server.stats().reuseDetections, 0, 'reuse detections')
})

/**
 * WebDriver has no hard reload (Playwright's helper needs CDP or Firefox's chrome scope), and a
 * page loaded after the worker activated is always controlled. So the uncontrolled tab is made
 * the other way it happens in use: it loaded before the worker existed, in a build whose worker
 * does not claim open pages.
 */
test('an uncontrolled tab is answered by the worker and reached by its broadcasts', async ({ browser }) => {
	const root = await mkdtemp(join(tmpdir(), 'swtb-webkit-noclaim-'))
	await cp(demoDir, root, { recursive: true })
	const worker = await readFile(join(root, 'sw.js'), 'utf8')
	const withoutClaim = worker.replace(/\bclients\.claim\(\)/g, 'Promise.resolve()')
	check(withoutClaim !== worker, 'the demo worker calls clients.claim()')
	await writeFile(join(root, 'sw.js'), withoutClaim)
	const server = await startDevAuthServer({ staticDir: root, accessTtlMs: 60_000 })
	try {
		const uncontrolled = await browser.newTab(`${server.url}/login`)
		await demoReady(uncontrolled)
		checkEqual(await uncontrolled.run('return navigator.serviceWorker.ready.then(() => navigator.serviceWorker.controller === null)'), true, 'no controller once the worker is active')
		checkEqual(await uncontrolled.run('return window.swtbDemo.client.getAccessToken()'), null, "the worker's answer to the uncontrolled tab")

		const other = await browser.newTab(`${server.url}/login`)
		await demoReady(other)
		checkEqual(await other.run('return navigator.serviceWorker.controller !== null'), true, 'the second tab is controlled')
		await other.click('Sign in')
		// The login broadcast reaches the uncontrolled tab, whose login page then opens the app.
		await uncontrolled.waitForPath('/')
		await uncontrolled.waitForState('signed in')
		checkEqual(server.stats().logins, 1, 'logins')
		checkEqual(await uncontrolled.accessToken(), await other.accessToken(), 'the same access token in both tabs')
	} finally {
		await server.close()
		await rm(root, { recursive: true, force: true })
	}
})

test('without navigator.serviceWorker the broker runs in the page: 5 tabs × 20 requests → one refresh, and logout reaches every tab', async ({ browser, note }) => {
	// WebDriver classic has no init script: the pages themselves drop the API before the app's module runs.
	const root = await mkdtemp(join(tmpdir(), 'swtb-webkit-noworker-'))
	await cp(demoDir, root, { recursive: true })
	for (const page of ['index.html', 'login.html']) {
		const html = await readFile(join(root, page), 'utf8')
		await writeFile(join(root, page), html.replace('<head>', '<head><script>delete Navigator.prototype.serviceWorker</script>'))
	}
	const server = await startDevAuthServer({ staticDir: root, accessTtlMs: 60_000 })
	try {
		const tabs = await openSignedInTabs(browser, server, 5)
		checkEqual(await tabs[0]!.run('return "serviceWorker" in navigator'), false, "'serviceWorker' in navigator")
		check(await tabs[0]!.run<boolean>('return "locks" in navigator'), 'Web Locks are there')
		for (let cycle = 1; cycle <= 2; cycle++) {
			const { elapsedMs, ok } = await expectOneRefreshForAllTabs(server, tabs)
			note(`in-page cycle ${cycle}: ${ok} of 100 requests ok in ${elapsedMs} ms, 1 refresh call`)
		}
		await tabs[2]!.click('Log out')
		for (const tab of tabs) await tab.waitForPath('/login')
	} finally {
		await server.close()
		await rm(root, { recursive: true, force: true })
	}
})

test('a new worker version taking over keeps the session, with no reload and no login', async ({ browser, note }) => {
	const root = await mkdtemp(join(tmpdir(), 'swtb-webkit-deploy-'))
	await cp(demoDir, root, { recursive: true })
	const server = await startDevAuthServer({ staticDir: root, accessTtlMs: 60_000 })
	try {
		const tabs = await openSignedInTabs(browser, server, 3)
		const version = (tab: Tab) =>
			tab.run<string>(`return navigator.serviceWorker.ready.then((registration) => new Promise((resolve) => {
			const channel = new MessageChannel()
			channel.port1.onmessage = (event) => resolve(event.data)
			registration.active.postMessage('demo-version', [channel.port2])
		}))`)
		checkEqual(await version(tabs[0]!), '1', 'version before the deploy')

		await cp(demoV2Dir, root, { recursive: true })
		for (const tab of tabs) await tab.run(`window.__switched = false; navigator.serviceWorker.addEventListener('controllerchange', () => { window.__switched = true }, { once: true })`)
		const started = Date.now()
		await tabs[0]!.run('return navigator.serviceWorker.ready.then((registration) => registration.update()).then(() => true)')
		for (const tab of tabs) await waitFor('controllerchange', () => tab.run<boolean>('return window.__switched').then((switched) => (switched ? true : undefined)), 30_000)
		note(`takeover (update() to controllerchange in 3 tabs): ${Date.now() - started} ms`)
		checkEqual(await version(tabs[1]!), '2', 'version after the deploy')

		await expectOneRefreshForAllTabs(server, tabs)
		for (const tab of tabs) checkEqual(await tab.state(), 'signed in', 'state')
		checkEqual(server.stats().logins, 0, 'logins')
	} finally {
		await server.close()
		await rm(root, { recursive: true, force: true })
	}
})

test('with a new version waiting (prompt strategy): no window gets the session from the old one, and a third version gets the rotated one', async ({ browser }) => {
	const root = await mkdtemp(join(tmpdir(), 'swtb-webkit-deploy-'))
	await cp(demoDir, root, { recursive: true })
	const server = await startDevAuthServer({ staticDir: root, accessTtlMs: 60_000 })
	try {
		const tabs = await openSignedInTabs(browser, server, 2, '?update=prompt')
		/** Checks for an update and waits until a version other than the current waiting one is installed and waiting. */
		const newVersionWaits = (tab: Tab) =>
			tab.run<boolean>(`return navigator.serviceWorker.ready.then(async (registration) => {
			const before = registration.waiting
			await registration.update()
			const deadline = Date.now() + 20000
			while (!(registration.waiting !== null && registration.waiting !== before && registration.waiting.state === 'installed') && Date.now() < deadline) {
				await new Promise((resolve) => setTimeout(resolve, 50))
			}
			return registration.waiting !== null && registration.waiting !== before && registration.active !== null
		})`)

		await cp(demoV2Dir, root, { recursive: true })
		check(await newVersionWaits(tabs[0]!), 'v2 installed and waiting')
		const answer = await tabs[1]!.run<unknown>(`return new Promise((resolve) => {
			const channel = new MessageChannel()
			channel.port1.onmessage = (event) => resolve(event.data)
			navigator.serviceWorker.controller.postMessage({ swtb: 1, type: 'session-request' }, [channel.port2])
			setTimeout(() => resolve('no answer'), 3000)
		})`)
		check(!JSON.stringify(answer).includes('refreshToken'), `a window's session-request got no refresh token: ${JSON.stringify(answer).slice(0, 200)}`)
		checkEqual((answer as { error?: { name?: string } }).error?.name, 'ProtocolError', "the answer to a window's session-request")
		await expectOneRefreshForAllTabs(server, tabs, 5)

		await writeFile(join(root, 'sw.js'), `${await readFile(join(root, 'sw.js'), 'utf8')}\n// v3\n`)
		check(await newVersionWaits(tabs[0]!), 'v3 installed and waiting')
		await expectOneRefreshForAllTabs(server, tabs, 5)
		for (const tab of tabs) checkEqual(await tab.state(), 'signed in', 'state')
		checkEqual(server.stats().logins, 0, 'logins')
	} finally {
		await server.close()
		await rm(root, { recursive: true, force: true })
	}
})

test("exchange() does not follow an open redirect on the app's origin: the sign-in form goes nowhere else", async ({ browser, server }) => {
	const other = await startDevAuthServer({ staticDir: demoDir })
	try {
		const [tab] = await openSignedInTabs(browser, server, 1)
		const token = await tab!.accessToken()
		// 307 keeps the POST and its body: the worker must not send the password on to the redirect's target.
		const url = `/api/redirect?status=307&to=${encodeURIComponent(`${other.url}/auth/login`)}`
		const outcome = await tab!.run<string>(
			`return window.swtbDemo.client.exchange({ url: arguments[0], body: { username: 'demo', password: 'demo' } })
			.then(() => 'signed in', (error) => error.name + ': ' + error.message)`,
			url,
		)
		check(/^LoginFailedError: .*answered with a redirect/.test(outcome), `the exchange was refused for its redirect: ${outcome}`)
		checkEqual(other.stats().logins, 0, 'logins at the redirect target')
		checkEqual(await tab!.accessToken(), token, 'the session in place')
	} finally {
		await other.close()
	}
})

/**
 * Safari stops a worker when no tab of its origin is open; no test can stop it otherwise. So this
 * closes every tab of the origin (a blank tab keeps the browser open), waits, and opens the app
 * again: the persisted session must come back, and memory mode must either still have its
 * session or send the tab to login, never hang.
 */
for (const [mode, query] of [
	['memory', ''],
	['indexeddb', '?persist=indexeddb'],
] as const) {
	test(`every tab of the origin closed for 5 s (${mode} mode): a new tab resumes the session or signs in again, and never hangs`, async ({ browser, server, note }) => {
		const tabs = await openSignedInTabs(browser, server, 2, query)
		const blank = await browser.newTab('about:blank')
		for (const tab of tabs) await tab.close()
		await blank.run('return new Promise((resolve) => setTimeout(resolve, 5000))')
		server.resetStats()
		const started = Date.now()
		const again = await browser.newTab(`${server.url}/${query}`)
		const outcome = await waitFor(
			'signed in, or the login page',
			async () => {
				const path = new URL(await again.url()).pathname
				if (path === '/login') return 'sent to login'
				return (await again.state()) === 'signed in' ? 'signed in' : undefined
			},
			15_000,
		)
		note(`${mode} mode, 5 s after the origin's last tab closed: ${outcome} in ${Date.now() - started} ms`)
		if (mode === 'indexeddb') checkEqual(outcome, 'signed in', 'the persisted session')
		if (outcome === 'signed in') {
			server.expireAccessTokens()
			checkEqual(await again.fire(3), { ok: 3, failed: 0, errors: [] }, 'requests after expiry')
			checkEqual(server.stats().refreshCalls, 1, 'refresh calls')
		}
	})
}

/** The framework examples (examples/<name>/); Angular's tokenInterceptor with both HttpClient backends. */
for (const [name, path] of [
	['React', 'react/'],
	['Vue', 'vue/'],
	['Angular with the XHR backend', 'angular/'],
	['Angular with withFetch()', 'angular/?backend=fetch'],
] as const) {
	test(`${name}: sign in; 3 tabs × 10 requests after expiry, 1 refresh, the app's own layer sees 1 response per call; a retry refused again fails once; a 503 refresh keeps the session; a rejected refresh shows the signed-out UI in every tab`, async ({
		browser,
		server,
	}) => {
		const url = `${server.url}/examples/${path}`
		const first = await browser.newTab(url)
		await first.waitForState('signed-out')
		await first.click('Sign in')
		await first.waitForState('signed-in')
		const tabs = [first, await browser.newTab(url), await browser.newTab(url)]
		for (const tab of tabs) await tab.waitForState('signed-in')
		const responses = (tab: Tab) => tab.run<number>('return window.swtbExample.responses()')
		/** Starts every tab's calls before collecting any: WebDriver serves one window at a time. As JSON: WebDriver does not keep an object's key order. */
		const fireAll = async (count: number) => {
			for (const tab of tabs) await tab.run('window.__outcome = undefined; void window.swtbExample.fire(arguments[0]).then((outcome) => { window.__outcome = JSON.stringify(outcome) })', count)
			return Promise.all(
				tabs.map((tab) =>
					waitFor(
						'the calls to settle',
						() => tab.run<string | null>('return window.__outcome ?? null').then((outcome) => (outcome === null ? undefined : (JSON.parse(outcome) as FireOutcome))),
						30_000,
					),
				),
			)
		}

		const before = await Promise.all(tabs.map(responses))
		server.resetStats()
		server.setRefreshDelay(500)
		server.expireAccessTokens()
		for (const outcome of await fireAll(10)) checkEqual(outcome, { ok: 10, failed: 0, errors: [] }, 'calls after expiry')
		checkEqual(server.stats().refreshCalls, 1, 'refresh calls')
		checkEqual(server.stats().reuseDetections, 0, 'reuse detections')
		checkEqual(
			(await Promise.all(tabs.map(responses))).map((count, index) => count - before[index]!),
			[10, 10, 10],
			"responses the app's layer saw",
		)
		server.setRefreshDelay(0)

		const fireOne = async (tab: Tab) => JSON.parse(await tab.run<string>('return window.swtbExample.fire(1).then(JSON.stringify)')) as FireOutcome
		const seenBefore = await responses(first)
		server.resetStats()
		server.setApiDeny(true)
		checkEqual(await fireOne(first), { ok: 0, failed: 1, errors: ['ApiError 401'] }, 'a call whose retry is refused again')
		checkEqual([server.stats().refreshCalls, server.stats().apiCalls], [1, 2], 'refresh calls and API calls')
		checkEqual((await responses(first)) - seenBefore, 1, "responses the app's layer saw for it")
		server.setApiDeny(false)

		server.setRefreshMode('down')
		server.expireAccessTokens()
		const unavailable = await fireOne(first)
		check(unavailable.errors.length === 1 && unavailable.errors[0]!.startsWith('RefreshUnavailableError'), `a call while the token endpoint answers 503: ${JSON.stringify(unavailable)}`)
		for (const tab of tabs) checkEqual(await tab.state(), 'signed-in', 'state while the token endpoint is down')
		server.setRefreshMode('ok')
		checkEqual(await fireOne(tabs[1]!), { ok: 1, failed: 0, errors: [] }, 'a call once the endpoint healed')

		server.resetStats()
		server.setRefreshMode('reject')
		server.expireAccessTokens()
		checkEqual(JSON.parse(await first.run<string>('return window.swtbExample.fire(1).then(JSON.stringify)')), { ok: 0, failed: 1, errors: ['LoggedOutError'] }, 'a call after the rejected refresh')
		checkEqual(server.stats().refreshCalls, 1, 'refresh calls')
		for (const tab of tabs) await tab.waitForState('signed-out')
	})
}
/** What page script can do with the DPoP key in IndexedDB: read it, never export its private half. */
const READ_DPOP_KEY = `return new Promise((resolve, reject) => {
	const open = indexedDB.open('sw-token-broker-dpop')
	open.onerror = () => reject(open.error)
	open.onupgradeneeded = () => open.result.createObjectStore('key')
	open.onsuccess = () => {
		const read = open.result.transaction('key').objectStore('key').get('current')
		read.onsuccess = async () => {
			const pair = read.result
			if (pair === undefined) return resolve(null)
			const exported = []
			for (const format of ['jwk', 'pkcs8']) await crypto.subtle.exportKey(format, pair.privateKey).then(() => exported.push(format), () => undefined)
			resolve({ extractable: pair.privateKey.extractable, exported })
		}
	}
})`

test('DPoP: 5 tabs × 20 requests after expiry, every request verified by the API, exactly 1 refresh', async ({ browser, server, note }) => {
	const tabs = await openSignedInTabs(browser, server, 5, '?dpop=1')
	const { elapsedMs, ok } = await expectOneRefreshForAllTabs(server, tabs)
	const dpop = server.dpopStats()
	checkEqual({ refused: dpop.refused, unboundUses: dpop.unboundUses }, { refused: 0, unboundUses: 0 }, 'refused proofs and unbound uses')
	check(
		server
			.lastApiHeaders()
			.slice(-100)
			.every((headers) => headers.authorization?.startsWith('DPoP ') && headers.dpop !== undefined),
		'every request carried a DPoP token and proof',
	)
	note(`DPoP: ${ok} of 100 requests ok in ${elapsedMs} ms, ${dpop.verified} proofs verified`)
})

test('DPoP: the stored key cannot be exported from page script, and logout deletes it', async ({ browser, server }) => {
	const [tab] = await openSignedInTabs(browser, server, 1, '?dpop=1')
	const key = await tab!.run<{ extractable: boolean; exported: string[] } | null>(READ_DPOP_KEY)
	checkEqual(key?.extractable, false, 'the stored private key is extractable')
	checkEqual(key?.exported, [], 'formats the private key could be exported in')
	await tab!.click('Log out')
	await tab!.waitForPath('/login')
	await waitFor('the key deleted', async () => ((await tab!.run(READ_DPOP_KEY)) === null ? true : undefined), 5_000)
})

test('DPoP: a nonce and a clock 5 min off cost one extra trip each, and never a refresh', async ({ browser, server }) => {
	server.setDPoPNonce('nonce-webkit')
	server.setClockSkew(5 * 60_000)
	const [tab] = await openSignedInTabs(browser, server, 1, '?dpop=1')
	checkEqual(await tab!.fire(3), { ok: 3, failed: 0, errors: [] }, 'requests')
	checkEqual(server.stats().refreshCalls, 0, 'refresh calls')
	server.resetStats()
	server.expireAccessTokens()
	checkEqual(await tab!.fire(3), { ok: 3, failed: 0, errors: [] }, 'requests after expiry')
	checkEqual(server.stats().refreshSuccesses, 1, 'refreshes')
	checkEqual(server.dpopStats().refused, 1, 'proofs refused (only the first, before any Date header)')
})

test('DPoP with persist indexeddb: every tab of the origin closed for 5 s, a new tab works with the stored key after one refresh', async ({ browser, server }) => {
	const tabs = await openSignedInTabs(browser, server, 2, '?dpop=1&persist=indexeddb')
	const blank = await browser.newTab('about:blank')
	for (const tab of tabs) await tab.close()
	await blank.run('return new Promise((resolve) => setTimeout(resolve, 5000))')
	server.resetStats()
	server.expireAccessTokens()
	const again = await browser.newTab(`${server.url}/?dpop=1&persist=indexeddb`)
	await again.waitForState('signed in')
	checkEqual(await again.fire(3), { ok: 3, failed: 0, errors: [] }, 'requests after expiry')
	checkEqual(server.stats().refreshSuccesses, 1, 'refreshes')
	checkEqual(server.dpopStats().refused, 0, 'refused proofs')
})

await run()
