/**
 * Bundle-size gate (`npm run size`, part of `npm test`): what an app ships for the page entry
 * and for the service-worker entry, minified and gzipped. axios is a peer dependency the app
 * already ships, so it is left out. Exits 1 when a bundle is over its budget.
 *
 * The issue's target is 2,500 B for each. It is not met without dropping features (the in-page
 * fallback's shared code, validated protocol messages, typed errors that say what to do), so
 * the gate holds the smallest sizes reached, plus 3 %, against regressions; the report prints
 * both.
 */
import { relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))

/** Gzipped bytes, from the issue "Fast: zero 401s in normal use, one refresh at any scale". */
export const SIZE_TARGETS = { page: 2500, worker: 2500 } as const

/**
 * Gzipped bytes the CI gate allows: the smallest reached (page 6,332 B, worker 5,897 B) plus 3 %.
 * The page's gate then moved from 6,520 B to 6,700 B for what the bytes buy: requests in flight
 * settle before onLogout navigates, and the glue works with the app's own interceptors (6,620 B).
 */
export const SIZE_BUDGETS = { page: 6_700, worker: 6_070 } as const

export type BundleName = keyof typeof SIZE_BUDGETS

export interface ModuleSize {
	path: string
	/** Minified bytes this module contributes to the bundle (before gzip, which is not additive). */
	bytes: number
	/** In a chunk behind a dynamic import(). */
	lazy: boolean
}

export interface BundleSize {
	name: BundleName
	entry: string
	/** What loads with the entry: its chunk and the chunks it imports statically. */
	raw: number
	gzip: number
	budget: number
	withinBudget: boolean
	target: number
	/** Chunks behind a dynamic import() (the in-page fallback): shipped, but loaded only when used. */
	lazy: { raw: number; gzip: number }
	/** Largest first, eager and lazy together. */
	modules: ModuleSize[]
}

const ENTRIES: Record<BundleName, string> = { page: 'src/index.ts', worker: 'sw/index.ts' }

async function measure(name: BundleName): Promise<BundleSize> {
	const entry = ENTRIES[name]
	// Code splitting as an app's bundler does it, so a dynamic import() is not counted as eager.
	const result = await build({
		absWorkingDir: root,
		entryPoints: { [name]: entry },
		bundle: true,
		splitting: true,
		minify: true,
		format: 'esm',
		platform: 'browser',
		target: 'es2022',
		external: ['axios'],
		write: false,
		metafile: true,
		outdir: 'out',
		logLevel: 'silent',
	})
	const outputs = result.metafile.outputs
	const entryOutput = Object.keys(outputs).find((path) => outputs[path]?.entryPoint !== undefined)
	if (entryOutput === undefined) throw new Error(`esbuild produced no entry chunk for ${entry}`)
	const eager = new Set<string>()
	const visit = (path: string) => {
		if (eager.has(path)) return
		eager.add(path)
		for (const imported of outputs[path]?.imports ?? []) {
			if (imported.kind === 'import-statement' && !imported.external) visit(imported.path)
		}
	}
	visit(entryOutput)

	const totals = { eager: { raw: 0, gzip: 0 }, lazy: { raw: 0, gzip: 0 } }
	const modules: ModuleSize[] = []
	for (const file of result.outputFiles) {
		const path = relative(root, file.path)
		if (!path.endsWith('.js')) continue
		// Each chunk is its own response, compressed on its own.
		const total = eager.has(path) ? totals.eager : totals.lazy
		total.raw += file.contents.length
		total.gzip += gzipSync(file.contents, { level: 9 }).length
		for (const [input, { bytesInOutput }] of Object.entries(outputs[path]?.inputs ?? {})) {
			modules.push({ path: input, bytes: bytesInOutput, lazy: !eager.has(path) })
		}
	}
	const budget = SIZE_BUDGETS[name]
	return {
		name,
		entry,
		...totals.eager,
		budget,
		withinBudget: totals.eager.gzip <= budget,
		target: SIZE_TARGETS[name],
		lazy: totals.lazy,
		modules: modules.sort((a, b) => b.bytes - a.bytes),
	}
}

/** Bundles both entries the way an app's bundler would and measures them. */
export async function measureSizes(): Promise<BundleSize[]> {
	return Promise.all((Object.keys(ENTRIES) as BundleName[]).map(measure))
}

export function formatSizes(sizes: BundleSize[], topModules = 8): string {
	const lines = ['bundle  entry         eager raw B  eager gzip B  gate (gzip)  status            target (gzip)  lazy chunks (gzip)']
	for (const size of sizes) {
		const status = size.withinBudget ? 'within gate' : `OVER by ${size.gzip - size.budget} B`
		const target = `≤ ${size.target} ${size.gzip <= size.target ? 'met' : 'not met'}`
		lines.push(`${size.name.padEnd(7)} ${size.entry.padEnd(13)} ${String(size.raw).padStart(11)}  ${String(size.gzip).padStart(12)}  ${`≤ ${size.budget}`.padStart(11)}  ${status.padEnd(16)}  ${target.padEnd(13)}  ${size.lazy.raw === 0 ? '—' : `${size.lazy.gzip} B`}`)
	}
	for (const size of sizes) {
		lines.push('', `largest modules in ${size.name} (minified bytes, before gzip):`)
		for (const module of size.modules.slice(0, topModules)) lines.push(`  ${String(module.bytes).padStart(5)}  ${module.path}${module.lazy ? '  (lazy)' : ''}`)
	}
	return lines.join('\n')
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
	const sizes = await measureSizes()
	console.log(formatSizes(sizes))
	if (sizes.some((size) => !size.withinBudget)) process.exitCode = 1
}
