/**
 * Page load in real Chromium: navigation → first authorized API response, for a page using the
 * library (a fresh document holds no token: it asks the worker) against a baseline page that has
 * its token in memory from the start. Same server, same worker, same run, alternating order.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Page } from '@playwright/test'
import { build } from 'esbuild'
import { type DevAuthServer, startDevAuthServer } from '../server/dev-auth-server.js'
import { stopServiceWorkers } from '../testing/index.js'
import { buildDemo, launch, percentile, signInDemo, sleep, withTimeout } from './browser.js'
import type { PageLoadMark } from './page-load-app/shared.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const PAGES = ['library', 'baseline'] as const
type Variant = (typeof PAGES)[number]

/** Navigations per page in the warm and cold cases, and rounds of restored tabs. */
const SAMPLES = { warm: 15, cold: 10, restoredRounds: 5, restoredTabs: 12 } as const
const PAGE_TIMEOUT_MS = 20_000

export interface PageLoadCase {
	name: 'warm' | 'cold' | 'restored'
	description: string
	/** Navigation → first authorized response, ms: medians (for restored: median of each round's slowest tab). */
	libraryMs: number
	baselineMs: number
	/** libraryMs − baselineMs. */
	addedMs: number
	targetMs: number
	samples: number
	/** Library page: navigation → its script running (bundle fetch and evaluation), median. */
	libraryScriptMs: number
	baselineScriptMs: number
	failures: string[]
}

const median = (values: number[]) => percentile(values, 50)

async function bundlePages(demoDir: string): Promise<void> {
	const outDir = join(demoDir, 'bench-load')
	await mkdir(outDir, { recursive: true })
	await build({
		absWorkingDir: root,
		entryPoints: PAGES.map((page) => `bench/page-load-app/${page}.ts`),
		bundle: true,
		minify: true,
		format: 'esm',
		platform: 'browser',
		target: 'es2022',
		outdir: outDir,
		logLevel: 'error',
	})
	// The script starts loading from the head, as an app's bundle does.
	await Promise.all(
		PAGES.map((page) =>
			writeFile(
				join(outDir, `${page}.html`),
				`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>page-load bench: ${page}</title><script type="module" src="/bench-load/${page}.js"></script></head><body></body></html>\n`,
			),
		),
	)
}

/** Signs in through the demo's login page; returns the demo tab (it stays open) and the access token. */
async function signIn(context: BrowserContext, server: DevAuthServer, query: string): Promise<{ tab: Page; token: string }> {
	const tab = await signInDemo(context, server, query)
	await tab.waitForFunction(() => document.getElementById('state')?.textContent === 'signed in', undefined, { timeout: PAGE_TIMEOUT_MS })
	const token = await tab.evaluate(() => (window as unknown as { swtbDemo: { client: { getAccessToken(): Promise<string | null> } } }).swtbDemo.client.getAccessToken())
	if (token === null) throw new Error('the demo tab holds no token after sign-in')
	return { tab, token }
}

let navigation = 0

/** Navigates `page` to one of the two pages and waits for its first API response. */
async function load(page: Page, server: DevAuthServer, variant: Variant, query: string, token: string): Promise<PageLoadMark> {
	// A distinct URL each time: a change of fragment alone would not load a new document.
	const separator = query === '' ? '?' : '&'
	const url = `${server.url}/bench-load/${variant}.html${query}${separator}n=${navigation++}${variant === 'baseline' ? `#token=${encodeURIComponent(token)}` : ''}`
	await page.goto(url, { waitUntil: 'commit' })
	const mark = await page.waitForFunction(() => (window as unknown as { __pageLoad?: unknown }).__pageLoad, undefined, { timeout: PAGE_TIMEOUT_MS })
	return (await mark.jsonValue()) as PageLoadMark
}

function summarise(name: PageLoadCase['name'], description: string, targetMs: number, marks: Record<Variant, PageLoadMark[]>, slowest?: Record<Variant, number[]>): PageLoadCase {
	const failures = [...new Set(PAGES.flatMap((variant) => marks[variant].filter((mark) => !mark.ok).map((mark) => `${variant}: ${mark.error ?? 'failed'}`)))].slice(0, 5)
	const time = (variant: Variant) => (slowest === undefined ? median(marks[variant].map((mark) => mark.responseAt)) : median(slowest[variant]))
	const libraryMs = time('library')
	const baselineMs = time('baseline')
	return {
		name,
		description,
		libraryMs,
		baselineMs,
		addedMs: libraryMs - baselineMs,
		targetMs,
		samples: marks.library.length,
		libraryScriptMs: median(marks.library.map((mark) => mark.scriptAt)),
		baselineScriptMs: median(marks.baseline.map((mark) => mark.scriptAt)),
		failures,
	}
}

/** One tab navigating back and forth between the two pages; `before` runs ahead of each navigation. */
async function alternate(page: Page, server: DevAuthServer, token: string, count: number, before: () => Promise<void>): Promise<Record<Variant, PageLoadMark[]>> {
	const marks: Record<Variant, PageLoadMark[]> = { library: [], baseline: [] }
	for (let i = 0; i < count; i++) {
		// Alternating which goes first, so a drift in the machine's load hits both alike.
		for (const variant of i % 2 === 0 ? PAGES : [...PAGES].reverse()) {
			await before()
			marks[variant].push(await withTimeout(load(page, server, variant, '', token), `${variant} page load`, PAGE_TIMEOUT_MS + 5_000))
		}
	}
	return marks
}

/**
 * A restored browser session: every window closed, the worker stopped, then `tabs` tabs open at
 * once. Only a persisted session survives that, so this context's worker runs with
 * persist: 'indexeddb'. The slowest tab of each round counts.
 */
async function restored(context: BrowserContext, server: DevAuthServer, token: string, keeper: Page): Promise<{ marks: Record<Variant, PageLoadMark[]>; slowest: Record<Variant, number[]> }> {
	const marks: Record<Variant, PageLoadMark[]> = { library: [], baseline: [] }
	const slowest: Record<Variant, number[]> = { library: [], baseline: [] }
	for (let round = 0; round < SAMPLES.restoredRounds; round++) {
		for (const variant of round % 2 === 0 ? PAGES : [...PAGES].reverse()) {
			await stopServiceWorkers(keeper)
			await sleep(200)
			const tabs = await Promise.all(Array.from({ length: SAMPLES.restoredTabs }, () => context.newPage()))
			const loaded = await withTimeout(
				Promise.all(tabs.map((tab) => load(tab, server, variant, '?persist=indexeddb', token))),
				`${SAMPLES.restoredTabs} restored ${variant} tabs`,
				PAGE_TIMEOUT_MS + 5_000,
			)
			marks[variant].push(...loaded)
			slowest[variant].push(Math.max(...loaded.map((mark) => mark.responseAt)))
			await Promise.all(tabs.map((tab) => tab.close()))
		}
	}
	return { marks, slowest }
}

export async function runPageLoadBench(log: (line: string) => void = () => undefined): Promise<PageLoadCase[]> {
	const workDir = await mkdtemp(join(tmpdir(), 'swtb-page-load-'))
	const demoDir = join(workDir, 'demo')
	let browser: Browser | undefined
	let server: DevAuthServer | undefined
	try {
		log('  building the demo PWA and the page-load pages')
		await buildDemo(demoDir)
		await bundlePages(demoDir)
		server = await startDevAuthServer({ staticDir: demoDir, accessTtlMs: 600_000 })
		browser = await launch()
		const cases: PageLoadCase[] = []

		// Memory mode, the default: a signed-in demo tab stays open, as the app's other tabs do.
		const memory = await browser.newContext()
		const { token } = await signIn(memory, server, '')
		const page = await memory.newPage()
		// One unmeasured load of each warms the HTTP cache and the worker's registration.
		await alternate(page, server, token, 1, async () => undefined)
		const warm = await alternate(page, server, token, SAMPLES.warm, async () => undefined)
		cases.push(summarise('warm', 'worker running, another tab open', 10, warm))
		log(`  page load warm: ${cases.at(-1)!.addedMs.toFixed(1)} ms added`)
		// The browser stopped the idle worker; the other tab still holds the token and seeds it back.
		const cold = await alternate(page, server, token, SAMPLES.cold, async () => {
			await stopServiceWorkers(page)
			await sleep(200)
		})
		cases.push(summarise('cold', 'worker stopped before the navigation (memory mode: another open tab seeds it)', 50, cold))
		log(`  page load cold: ${cases.at(-1)!.addedMs.toFixed(1)} ms added`)
		await memory.close()

		const persisted = await browser.newContext()
		const signedIn = await signIn(persisted, server, '?persist=indexeddb')
		const keeper = await persisted.newPage()
		await signedIn.tab.close()
		const restoredRun = await restored(persisted, server, signedIn.token, keeper)
		cases.push(summarise('restored', `${SAMPLES.restoredTabs} tabs restored at once, worker stopped (persist: 'indexeddb'); slowest tab`, 100, restoredRun.marks, restoredRun.slowest))
		log(`  page load restored: ${cases.at(-1)!.addedMs.toFixed(1)} ms added`)
		await persisted.close()
		return cases
	} finally {
		await browser?.close()
		await server?.close()
		await rm(workDir, { recursive: true, force: true })
	}
}
