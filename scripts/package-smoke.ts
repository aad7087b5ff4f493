/**
 * Package smoke test (`npm run test:package`): what a user installs, not what the repository
 * compiles. Packs the library with `npm pack`, lints the package with publint and
 * @arethetypeswrong/cli (exports, files, types as ESM consumers resolve them), installs the
 * tarball into a fresh app in a temporary folder outside the repository (templates in
 * package-smoke/), type-checks that app in strict mode (pages with lib dom, worker with lib
 * webworker, tests with node), bundles two pages and the worker with esbuild — one fetch-only,
 * which must bundle no axios, one with axios and `r => r.data` — bundles a React, a Vue and an
 * Angular page on ./react, ./vue and ./angular (each with its own framework only), and runs its own Playwright
 * tests: multi-tab expiry on both pages, and the testing entry's OpenID provider.
 *
 * Assumes `npm run build` ran (runs it when dist/ is missing). Exits 1 on any failure.
 * KEEP_SMOKE=1 keeps the temporary folder for inspection. SMOKE_AXIOS=<version> installs that
 * axios instead of the latest 1.x, to try the low end of the peer range.
 */
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const templates = join(root, 'package-smoke')
const keep = process.env.KEEP_SMOKE === '1'

/** What the consumer installs besides the tarball: the peers and its own tools. */
const CONSUMER_DEPENDENCIES = [
	`axios@${process.env.SMOKE_AXIOS || '1'}`,
	'@playwright/test@1.64.1',
	'typescript@7',
	'esbuild@0.28',
	'@types/node@20',
	// The optional peer of sw-token-broker/testing's startOidcProvider.
	'oidc-provider@9',
	// The optional peers of sw-token-broker/react, /vue and /angular.
	'react@19',
	'react-dom@19',
	'@types/react@19',
	'@types/react-dom@19',
	'vue@3',
	'@angular/core@21',
	'@angular/common@21',
	'@angular/platform-browser@21',
	'rxjs@7',
]

/** Each framework page, and the frameworks whose code must not be in its bundle: an entry pulls in its own framework only. */
const FRAMEWORK_PAGES = [
	{ page: 'src/react-page.tsx', others: ['node_modules/vue/', 'node_modules/@vue/', 'node_modules/@angular/', 'node_modules/axios/'] },
	{ page: 'src/vue-page.ts', others: ['node_modules/react', 'node_modules/@angular/', 'node_modules/axios/'] },
	{ page: 'src/angular-page.ts', others: ['node_modules/react', 'node_modules/vue/', 'node_modules/@vue/', 'node_modules/axios/'] },
]
const STEP_TIMEOUT_MS = 5 * 60_000
/** Sources whose build output is packed; a newer one than dist/ means the tarball is stale. */
const SOURCE_DIRS = ['src', 'sw', 'server', 'testing']

interface PackedFile {
	path: string
	size: number
}

interface PackResult {
	filename: string
	size: number
	unpackedSize: number
	files: PackedFile[]
}

/** An `exports` value: a path, or conditions (possibly nested). */
type ExportTarget = string | null | { [condition: string]: ExportTarget }

interface PackageJson {
	exports: Record<string, ExportTarget>
}

class SmokeFailure extends Error {}

// ---------------------------------------------------------------------------------------------
// Steps

const timings: { name: string; ms: number; ok: boolean }[] = []

async function step<T>(name: string, action: () => T | Promise<T>): Promise<T> {
	console.log(`\n▶ ${name}`)
	const started = performance.now()
	try {
		const result = await action()
		const ms = performance.now() - started
		timings.push({ name, ms, ok: true })
		console.log(`✓ ${name} (${seconds(ms)})`)
		return result
	} catch (error) {
		const ms = performance.now() - started
		timings.push({ name, ms, ok: false })
		console.log(`✗ ${name} (${seconds(ms)})`)
		throw error
	}
}

function seconds(ms: number): string {
	return `${(ms / 1000).toFixed(1)} s`
}

/** The environment of `npm run`, minus what ties a child npm to this repository. */
function childEnv(): NodeJS.ProcessEnv {
	const env = { ...process.env }
	for (const key of Object.keys(env)) {
		if (/^npm_(package_|lifecycle_|config_local_prefix$)/i.test(key) || key === 'INIT_CWD') delete env[key]
	}
	return env
}

/** Runs a command; its output goes to the terminal unless captured. Rejects on a non-zero exit. */
function run(command: string, args: string[], cwd: string, capture = false): Promise<string> {
	console.log(`  $ ${[command, ...args].join(' ')}${cwd === root ? '' : `   (in ${cwd})`}`)
	return new Promise((resolve, reject) => {
		const child = spawn(command, args, {
			cwd,
			env: childEnv(),
			stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
			timeout: STEP_TIMEOUT_MS,
			shell: process.platform === 'win32',
		})
		let stdout = ''
		let stderr = ''
		child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
		child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
		child.on('error', reject)
		child.on('close', (code, signal) => {
			if (code === 0) return resolve(stdout)
			if (capture) process.stderr.write(stdout + stderr)
			reject(new SmokeFailure(`${command} ${args.join(' ')} ${signal ? `was killed (${signal})` : `exited with ${code}`}`))
		})
	})
}

// ---------------------------------------------------------------------------------------------
// Build

function newestMtime(dir: string, accept: (path: string) => boolean): number {
	let newest = 0
	for (const path of walk(dir)) if (accept(path)) newest = Math.max(newest, statSync(path).mtimeMs)
	return newest
}

function oldestMtime(dir: string, accept: (path: string) => boolean): number {
	let oldest = Infinity
	for (const path of walk(dir)) if (accept(path)) oldest = Math.min(oldest, statSync(path).mtimeMs)
	return oldest
}

function* walk(dir: string): Generator<string> {
	if (!existsSync(dir)) return
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		const path = join(dir, entry.name)
		if (entry.isDirectory()) yield* walk(path)
		else yield path
	}
}

async function ensureBuilt(): Promise<void> {
	const pkg = readJson<PackageJson>(join(root, 'package.json'))
	const targets = Object.values(pkg.exports).flatMap(targetPaths)
	const missing = targets.filter((target) => !existsSync(join(root, target)))
	if (missing.length > 0) {
		console.log(`  dist/ lacks ${missing.join(', ')}: building`)
		await run('npm', ['run', 'build'], root)
		return
	}
	const newestSource = Math.max(...SOURCE_DIRS.map((dir) => newestMtime(join(root, dir), (path) => path.endsWith('.ts'))))
	const oldestOutput = SOURCE_DIRS.map((dir) => oldestMtime(join(root, 'dist', dir), (path) => path.endsWith('.js'))).reduce((a, b) => Math.min(a, b))
	if (newestSource > oldestOutput) console.log('  warning: sources changed after the last build; run `npm run build` to pack them')
	else console.log('  dist/ is up to date')
}

// ---------------------------------------------------------------------------------------------
// Pack and check the package

async function pack(destination: string): Promise<PackResult> {
	const stdout = await run('npm', ['pack', '--json', '--pack-destination', destination], root, true)
	const results = JSON.parse(stdout.slice(stdout.indexOf('['))) as PackResult[]
	const result = results[0]
	if (result === undefined) throw new SmokeFailure('npm pack reported no tarball')
	console.log(`  ${result.filename}: ${result.files.length} files, ${kb(result.size)} packed, ${kb(result.unpackedSize)} unpacked`)
	return result
}

function kb(bytes: number): string {
	return `${(bytes / 1024).toFixed(1)} kB`
}

/** Every path an `exports` value can resolve to. */
function targetPaths(target: ExportTarget): string[] {
	if (target === null) return []
	if (typeof target === 'string') return [target]
	return Object.values(target).flatMap(targetPaths)
}

function readJson<T>(path: string): T {
	return JSON.parse(readFileSync(path, 'utf8')) as T
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
	const started = performance.now()
	const tmp = mkdtempSync(join(tmpdir(), 'sw-token-broker-smoke-'))
	const consumer = join(tmp, 'consumer')
	const cleanup = () => {
		if (keep) console.log(`\nKEEP_SMOKE=1: the consumer app stays in ${consumer}`)
		else rmSync(tmp, { recursive: true, force: true })
	}
	for (const signal of ['SIGINT', 'SIGTERM'] as const) {
		process.once(signal, () => {
			cleanup()
			process.exit(130)
		})
	}
	console.log(`package smoke test in ${tmp}`)
	let failed = false
	try {
		await step('build (if needed)', ensureBuilt)
		const packed = await step('npm pack', () => pack(tmp))
		await step('create the consumer app from package-smoke/', () => {
			cpSync(templates, consumer, { recursive: true })
		})
		await step('install the tarball and the peers into the consumer', () =>
			run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(tmp, packed.filename), ...CONSUMER_DEPENDENCIES], consumer),
		)
		await step('publint: package.json, exports and files', () => run(join(root, 'node_modules', '.bin', 'publint'), ['run', '--strict', join(consumer, 'node_modules', 'sw-token-broker')], root))
		await step("arethetypeswrong: every entry's types resolve for ESM consumers (node16, bundler)", () =>
			run(join(root, 'node_modules', '.bin', 'attw'), [join(tmp, packed.filename), '--profile', 'esm-only'], root),
		)
		const bin = (name: string) => join(consumer, 'node_modules', '.bin', name)
		await step('type-check the consumer (strict): page, worker, tests', async () => {
			await run(bin('tsc'), ['-p', 'tsconfig.json'], consumer)
			await run(bin('tsc'), ['-p', 'tsconfig.sw.json'], consumer)
			await run(bin('tsc'), ['-p', 'tsconfig.test.json'], consumer)
			await run(bin('tsc'), ['-p', 'tsconfig.frameworks.json'], consumer)
		})
		await step('bundle a React, a Vue and an Angular page on ./react, ./vue and ./angular (esbuild); each bundles its own framework only', async () => {
			for (const { page, others } of FRAMEWORK_PAGES) {
				const meta = `${page.replace(/\W/g, '-')}.meta.json`
				await run(
					bin('esbuild'),
					[
						page,
						'--bundle',
						'--minify',
						'--target=es2022',
						'--platform=browser',
						'--format=esm',
						'--log-level=warning',
						'--jsx=automatic',
						'--define:process.env.NODE_ENV="production"',
						`--outfile=public/${page.replace(/^src\/|\.tsx?$/g, '')}.js`,
						`--metafile=${meta}`,
					],
					consumer,
				)
				const inputs = Object.keys(readJson<{ inputs: Record<string, unknown> }>(join(consumer, meta)).inputs)
				const foreign = inputs.filter((input) => others.some((other) => input.includes(other)))
				if (foreign.length > 0) throw new SmokeFailure(`${page} bundles another framework: ${foreign.slice(0, 3).join(', ')}`)
				const entry = inputs.filter((input) => input.includes('node_modules/sw-token-broker/dist/src/frameworks/'))
				if (entry.length !== 1) throw new SmokeFailure(`${page} should bundle one framework layer of sw-token-broker, found ${entry.join(', ') || 'none'}`)
				console.log(`  ${page}: ${inputs.length} modules, with ${entry[0]}`)
			}
		})
		await step('bundle both pages and the worker (esbuild); the fetch-only page bundles no axios', async () => {
			const common = ['--bundle', '--target=es2022', '--platform=browser', '--log-level=warning']
			await run(bin('esbuild'), ['src/axios-page.ts', ...common, '--format=esm', '--outfile=public/app.js'], consumer)
			await run(bin('esbuild'), ['src/fetch-page.ts', ...common, '--format=esm', '--outfile=public/fetch-app.js', '--metafile=fetch-meta.json'], consumer)
			await run(bin('esbuild'), ['src/sw.ts', ...common, '--format=iife', '--outfile=public/sw.js'], consumer)
			for (const page of ['index.html', 'fetch.html']) cpSync(join(consumer, page), join(consumer, 'public', page))
			const inputs = Object.keys(readJson<{ inputs: Record<string, unknown> }>(join(consumer, 'fetch-meta.json')).inputs)
			const axiosFiles = inputs.filter((input) => input.includes('node_modules/axios/'))
			if (axiosFiles.length > 0) throw new SmokeFailure(`the fetch-only page bundles axios: ${axiosFiles.slice(0, 3).join(', ')}`)
			console.log(`  fetch-only page: ${inputs.length} modules, none of axios`)
		})
		await step('Playwright: 3 tabs × 10 requests after expiry, 1 refresh, on the axios page and the fetch-only page; the same at a real OpenID provider', () =>
			run(bin('playwright'), ['test'], consumer),
		)
	} catch (error) {
		failed = true
		console.error(`\n${error instanceof SmokeFailure ? error.message : error instanceof Error ? error.stack : String(error)}`)
	} finally {
		cleanup()
	}
	console.log('\nstep durations:')
	for (const { name, ms, ok } of timings) console.log(`  ${ok ? '✓' : '✗'} ${seconds(ms).padStart(7)}  ${name}`)
	console.log(`  total ${seconds(performance.now() - started)}`)
	console.log(failed ? '\npackage smoke test FAILED' : '\npackage smoke test passed')
	process.exitCode = failed ? 1 : 0
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
