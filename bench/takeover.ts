/**
 * How long a deploy takes to reach every tab: registration.update() until the new version
 * controls all of 3 signed-in tabs, over many deploys (the demo's two builds, alternately), in
 * Chromium and Firefox; half of them right after the worker handled a burst of 500 malformed
 * messages, the case of the reported tail. After each deploy every tab must still make a
 * request with the session it had. `npx tsx bench/takeover.ts [deploys]` after `npm run build:demo`.
 */
import { existsSync } from 'node:fs'
import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, type Page, chromium, firefox } from '@playwright/test'
import { startDevAuthServer } from '../testing/index.js'

const builds = ['../dist-demo', '../dist-demo-v2'].map((path) => fileURLToPath(new URL(path, import.meta.url)))
const deploys = Number(process.argv[2] ?? 20)
const TAKEOVER_LIMIT_MS = 70_000

const engines: Record<string, () => Promise<Browser>> = {
	chromium: () =>
		chromium.launch({
			...(existsSync('/usr/bin/chromium') ? { executablePath: '/usr/bin/chromium' } : {}),
			args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
		}),
	firefox: () => firefox.launch(existsSync('/usr/bin/firefox-esr') ? { channel: 'moz-firefox', executablePath: '/usr/bin/firefox-esr' } : {}),
}

/** The hardening spec's malformed requests, some with a port nobody reads. */
async function burst(page: Page, count: number): Promise<void> {
	await page.evaluate(async (n) => {
		const worker = (await navigator.serviceWorker.ready).active!
		for (let i = 0; i < n; i++) {
			const channel = new MessageChannel()
			worker.postMessage({ swtb: 1, type: i % 2 === 0 ? 'login' : 'nope', tokens: null }, [channel.port2])
			if (i % 3 === 0) channel.port1.close()
		}
	}, count)
}

function percentile(sorted: number[], p: number): number {
	return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

async function measure(engine: string): Promise<void> {
	const root = await mkdtemp(join(tmpdir(), 'swtb-takeover-'))
	await cp(builds[0]!, root, { recursive: true })
	const server = await startDevAuthServer({ staticDir: root, accessTtlMs: 600_000 })
	const browser = await engines[engine]!()
	const times: Record<'quiet' | 'after burst', number[]> = { quiet: [], 'after burst': [] }
	let failures = 0
	try {
		const context = await browser.newContext()
		const first = await context.newPage()
		await first.goto(`${server.url}/login`)
		await first.waitForFunction(() => 'swtbDemo' in window)
		await first.getByRole('button', { name: 'Sign in' }).click()
		await first.waitForURL(`${server.url}/`)
		const tabs = [first]
		for (let i = 1; i < 3; i++) {
			const tab = await context.newPage()
			await tab.goto(`${server.url}/`)
			await tab.locator('#state').getByText('signed in').waitFor({ timeout: 30_000 })
			tabs.push(tab)
		}
		for (let deploy = 1; deploy <= deploys; deploy++) {
			const kind = deploy % 2 === 0 ? 'after burst' : 'quiet'
			if (kind === 'after burst') await burst(tabs[0]!, 500)
			await cp(builds[deploy % 2]!, root, { recursive: true })
			const switched = tabs.map((tab) =>
				tab.evaluate(
					(limit) =>
						new Promise<boolean>((resolve) => {
							navigator.serviceWorker.addEventListener('controllerchange', () => resolve(true), { once: true })
							setTimeout(() => resolve(false), limit)
						}),
					TAKEOVER_LIMIT_MS,
				),
			)
			const started = Date.now()
			await tabs[0]!.evaluate(() => navigator.serviceWorker.ready.then((registration) => registration.update()))
			const all = await Promise.all(switched)
			const elapsed = Date.now() - started
			const outcomes = await Promise.all(tabs.map((tab) => tab.evaluate(() => (window as any).swtbDemo.fire(1) as Promise<{ ok: number }>)))
			const kept = all.every(Boolean) && outcomes.every((outcome) => outcome.ok === 1)
			if (!kept) failures++
			times[kind].push(elapsed)
			console.log(`${engine} deploy ${deploy} (${kind}): ${elapsed} ms${kept ? '' : ` — NOT taken over or session lost: ${JSON.stringify({ all, outcomes })}`}`)
		}
	} finally {
		await browser.close()
		await server.close()
		await rm(root, { recursive: true, force: true })
	}
	for (const [kind, values] of Object.entries(times)) {
		const sorted = [...values].sort((a, b) => a - b)
		if (sorted.length === 0) continue
		console.log(`${engine} ${kind}: ${sorted.length} deploys, takeover p50 ${percentile(sorted, 50)} ms, p95 ${percentile(sorted, 95)} ms, max ${sorted.at(-1)} ms`)
	}
	console.log(`${engine}: ${failures} deploys without a takeover in every tab or with the session lost`)
}

for (const engine of (process.env.ENGINES ?? 'chromium,firefox').split(',')) await measure(engine)
