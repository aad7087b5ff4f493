/**
 * Package smoke test (`npm run test:package`): what a user installs, not what the repository
 * compiles. Packs the library with `npm pack`, checks the tarball (export targets, type
 * declarations, relative imports, no `any` in public declarations), installs it into a fresh
 * app in a temporary folder outside the repository (templates in package-smoke/), type-checks
 * that app in strict mode (page with lib dom, worker with lib webworker, tests with node),
 * bundles its page and worker with esbuild, and runs its own Playwright multi-tab expiry tests,
 * against the dev auth server and against the OpenID provider the testing entry starts.
 *
 * Assumes `npm run build` ran (runs it when dist/ is missing). Exits 1 on any failure.
 * KEEP_SMOKE=1 keeps the temporary folder for inspection. SMOKE_AXIOS=<version> installs that
 * axios instead of the latest 1.x, to try the low end of the peer range.
 */
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
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
	name: string
	exports: Record<string, ExportTarget>
	dependencies?: Record<string, string>
	peerDependencies?: Record<string, string>
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

/**
 * Replaces comments and the text of string and template literals with spaces (newlines kept,
 * so line numbers hold); `${…}` inside template literal types stays, as it is code.
 */
export function blankCommentsAndStrings(text: string, keepStrings = false): string {
	let out = ''
	let i = 0
	let braces = 0
	const templateBraces: number[] = []
	const blank = (part: string) => (keepStrings ? part : part.replace(/[^\n]/g, ' '))
	const blankAlways = (part: string) => part.replace(/[^\n]/g, ' ')
	while (i < text.length) {
		const c = text[i]!
		const next = text[i + 1]
		if (c === '/' && next === '/') {
			const end = text.indexOf('\n', i)
			const j = end === -1 ? text.length : end
			out += blankAlways(text.slice(i, j))
			i = j
		} else if (c === '/' && next === '*') {
			const end = text.indexOf('*/', i + 2)
			const j = end === -1 ? text.length : end + 2
			out += blankAlways(text.slice(i, j))
			i = j
		} else if (c === '"' || c === "'") {
			let j = i + 1
			while (j < text.length && text[j] !== c && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1
			out += c + blank(text.slice(i + 1, j)) + c
			i = j + 1
		} else if (c === '`' || (c === '}' && templateBraces.at(-1) === braces)) {
			if (c === '}') templateBraces.pop()
			let j = i + 1
			while (j < text.length && text[j] !== '`' && !(text[j] === '$' && text[j + 1] === '{')) j += text[j] === '\\' ? 2 : 1
			out += c + blank(text.slice(i + 1, j))
			if (text[j] === '`') {
				out += '`'
				i = j + 1
			} else {
				out += '${'
				templateBraces.push(braces)
				i = j + 2
			}
		} else {
			if (c === '{') braces++
			else if (c === '}') braces--
			out += c
			i++
		}
	}
	return out
}

/** Module specifiers a file imports: static imports and re-exports, side-effect imports, import(). */
export function importedSpecifiers(text: string): string[] {
	const code = blankCommentsAndStrings(text, true)
	const patterns = [
		/(?:^|[\n;])\s*(?:import|export)\s[^;'"]*?\bfrom\s*(['"])([^'"\n]+)\1/g,
		/(?:^|[\n;])\s*import\s*(['"])([^'"\n]+)\1/g,
		/\bimport\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g,
	]
	return patterns.flatMap((pattern) => [...code.matchAll(pattern)].map((match) => match[2]!))
}

interface AnyUse {
	file: string
	line: number
	text: string
}

/** `any` used as a type: not in comments or strings, not a property or parameter name, not `x.any`. */
export function findAny(file: string, text: string): AnyUse[] {
	const code = blankCommentsAndStrings(text)
	const lines = text.split('\n')
	const found: AnyUse[] = []
	for (const match of code.matchAll(/\bany\b/g)) {
		const before = code.slice(0, match.index).trimEnd()
		const after = code.slice(match.index + 3)
		if (before.endsWith('.') || /^\??\s*[:(<]/.test(after.trimStart()) || /^\s*\?\s*:/.test(after)) continue
		const line = code.slice(0, match.index).split('\n').length
		found.push({ file, line, text: lines[line - 1]!.trim() })
	}
	return found
}

/** The packed path a relative specifier of `from` points to (a .d.ts points at ./x.js, meaning ./x.d.ts). */
function resolvePacked(from: string, specifier: string): string {
	const resolved = posix.normalize(posix.join(posix.dirname(from), specifier))
	return from.endsWith('.d.ts') ? resolved.replace(/\.(m|c)?js$/, '.d.$1ts') : resolved
}

function isBuiltin(specifier: string): boolean {
	return specifier.startsWith('node:')
}

function packageName(specifier: string): string {
	const parts = specifier.split('/')
	return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!
}

/**
 * Checks the installed package (the tarball's content) as a consumer meets it. Failures:
 * an export target or its declarations missing, `types` not first, a relative import to a
 * file not packed, a runtime import of a package that is not a dependency, `any` in a
 * declaration. Notes: packed files no export reaches, what each entry's types need.
 */
export function checkPackage(packageDir: string, packed: PackResult): void {
	const files = new Set(packed.files.map((file) => file.path))
	const pkg = readJson<PackageJson>(join(packageDir, 'package.json'))
	const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})])
	const problems = new Set<string>()
	const notes: string[] = []
	const read = (path: string) => readFileSync(join(packageDir, path), 'utf8')

	const reachable = new Set<string>(['package.json'])
	for (const [entry, target] of Object.entries(pkg.exports)) {
		for (const path of targetPaths(target)) {
			if (!files.has(posix.normalize(path))) problems.add(`exports["${entry}"] → ${path}: not in the tarball`)
		}
		if (!targetPaths(target).some((path) => /\.(m|c)?js$/.test(path))) continue
		if (typeof target !== 'object' || target === null || Object.values(target).some((value) => typeof value !== 'string')) {
			notes.push(`exports["${entry}"] is not flat { types, import|default } conditions: not checked further`)
			continue
		}
		const conditions = target as Record<string, string>
		const keys = Object.keys(conditions)
		if (!('types' in conditions)) problems.add(`exports["${entry}"] has no "types"`)
		else if (keys[0] !== 'types') problems.add(`exports["${entry}"]: "types" must be the first condition (it is "${keys[0]}")`)
		const needs = new Set<string>()
		for (const condition of ['types', 'import', 'default'] as const) {
			const start = conditions[condition]
			if (start === undefined) continue
			const seen = new Set<string>()
			const queue = [posix.normalize(start)]
			for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
				if (seen.has(file) || !files.has(file)) continue
				seen.add(file)
				reachable.add(file)
				for (const specifier of importedSpecifiers(read(file))) {
					if (specifier.startsWith('.')) {
						const resolved = resolvePacked(file, specifier)
						if (files.has(resolved)) queue.push(resolved)
						else problems.add(`${file} imports ${specifier}: ${resolved} is not in the tarball`)
					} else if (condition === 'types') {
						needs.add(isBuiltin(specifier) ? '@types/node' : packageName(specifier))
					} else if (!isBuiltin(specifier) && !declared.has(packageName(specifier))) {
						problems.add(`${file} imports ${specifier} at run time, which is neither a dependency nor a peer dependency`)
					}
				}
			}
		}
		notes.push(`"${entry === '.' ? pkg.name : `${pkg.name}/${entry.slice(2)}`}" types need: ${needs.size === 0 ? 'nothing else' : [...needs].sort().join(', ')}`)
	}

	for (const file of files) {
		if (file.endsWith('.js') && !files.has(file.replace(/\.js$/, '.d.ts'))) problems.add(`${file} has no ${file.replace(/\.js$/, '.d.ts')}`)
		if (file.endsWith('.d.ts')) {
			for (const use of findAny(file, read(file))) problems.add(`${use.file}:${use.line}: \`any\` in a public declaration: ${use.text}`)
		}
	}
	// A module counts as reached when its code or its declarations are (type-only modules emit empty .js).
	const moduleOf = (file: string) => file.replace(/(\.d)?\.ts$|\.js$/, '')
	const reachedModules = new Set([...reachable].map(moduleOf))
	const unreached = [...new Set([...files].filter((file) => /\.(d\.ts|js)$/.test(file)).map(moduleOf))].filter((module) => !reachedModules.has(module))
	if (unreached.length > 0) notes.push(`packed, but no export reaches: ${unreached.map((module) => `${module}.{js,d.ts}`).join(', ')}`)

	for (const note of notes) console.log(`  note: ${note}`)
	if (problems.size > 0) {
		for (const problem of problems) console.log(`  ✗ ${problem}`)
		throw new SmokeFailure(`the package has ${problems.size} problem(s)`)
	}
	console.log(`  ${files.size} files: every export target and import resolves, every .js has its .d.ts, no \`any\` in declarations`)
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
		await step('check the packed package (exports, .d.ts, imports, any)', () => checkPackage(join(consumer, 'node_modules', 'sw-token-broker'), packed))
		const bin = (name: string) => join(consumer, 'node_modules', '.bin', name)
		await step('type-check the consumer (strict): page, worker, tests', async () => {
			await run(bin('tsc'), ['-p', 'tsconfig.json'], consumer)
			await run(bin('tsc'), ['-p', 'tsconfig.sw.json'], consumer)
			await run(bin('tsc'), ['-p', 'tsconfig.test.json'], consumer)
		})
		await step('bundle the page and the worker (esbuild)', async () => {
			const common = ['--bundle', '--target=es2022', '--platform=browser', '--log-level=warning']
			await run(bin('esbuild'), ['src/page.ts', ...common, '--format=esm', '--outfile=public/app.js'], consumer)
			await run(bin('esbuild'), ['src/sw.ts', ...common, '--format=iife', '--outfile=public/sw.js'], consumer)
			cpSync(join(consumer, 'index.html'), join(consumer, 'public', 'index.html'))
		})
		await step('Playwright: 3 tabs, token expired, 30 requests, 1 refresh; the same at a real OpenID provider', () => run(bin('playwright'), ['test'], consumer))
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
