/**
 * What size-limit (`.size-limit.json`, the plain budgets of every entry and each side's whole
 * surface) cannot do, in `npm run size` after it: the fetch app's eager bytes apart from the
 * in-page fallback that loads behind import(), and the bytes the axios glue adds to that app.
 * Minified and gzipped by esbuild as an app's bundler would, axios left out (a peer the app
 * ships anyway), in a production build (`process.env.NODE_ENV` is 'production', as esbuild
 * sets it for a minified browser build), with the development build's bytes beside it.
 * Exits 1 when a bundle is over its gate.
 *
 * A gate is the issue's target where that is met; elsewhere the smallest size reached plus a
 * little, against regressions, and the report prints the target beside it.
 */
import { fileURLToPath, pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))

interface Scenario {
	/** What an app's module imports and does. */
	code: string
	splitting: boolean
	/** Measured as the bytes it adds to another scenario, by name. */
	over?: string
	/** Gzipped bytes: the issue's target, and the CI gate. */
	target: number
	gate: number
}

const SCENARIOS = {
	'fetch app': {
		code: `import { createTokenClient } from './src/index.ts'\nconst client = createTokenClient()\nclient.fetch('/api')`,
		splitting: true,
		target: 3_000,
		// +34 B: a controlled page talks to its controller at once, not after looking up its registration.
		// +35 B: the sender keeps the URLs it parsed for client.fetch too (the axios glue lost 60 B with it).
		// −329 B: production builds drop the errors' long advice for a link to docs/troubleshooting.md.
		// +50 B: isUnauthorized (a 200 that reports an expired token counts as a 401).
		// +25 B: each error the broker sends is rebuilt by its own constructor, with status and retryAfterMs (issue 17).
		// +705 B (issue 17): the tab session split along its jobs (~+300), the keep-alive lock only in a
		// visible tab, checked numeric options with their typed error, a logout that ends the tab at
		// once (and holds token broadcasts until the broker answers it), WWW-Authenticate and
		// keepalive rules in client.fetch.
		// +125 B (issue 18): signIn/completeSignIn stubs over a lazy chunk, state.user, logout({ endSession }).
		// +130 B: DPoP (issue 19): the import() of the DPoP step (kept once loaded), method and URL for its proofs, the DPoP scheme.
		gate: 5_880,
	},
	'axios glue': {
		code: `import { createTokenClient } from './src/index.ts'\nimport { attachAxios } from './src/axios.ts'\nimport axios from 'axios'\nconst client = createTokenClient()\nattachAxios(client, axios.create())\nclient.fetch('/api')`,
		splitting: true,
		over: 'fetch app',
		target: 1_000,
		gate: 1_000,
	},
	// What each framework entry adds to the fetch app; the framework itself is left out, as axios is (a peer the app ships anyway).
	'react entry': {
		code: `import { createTokenClient } from './src/index.ts'\nimport { useAuth, AuthGate } from './src/react.ts'\nconst client = createTokenClient()\nclient.fetch('/api')\nexport const App = () => [useAuth(client), AuthGate]`,
		splitting: true,
		over: 'fetch app',
		target: 300,
		gate: 300,
	},
	'vue entry': {
		code: `import { createTokenClient } from './src/index.ts'\nimport { useAuth } from './src/vue.ts'\nconst client = createTokenClient()\nclient.fetch('/api')\nexport const setup = () => useAuth(client)`,
		splitting: true,
		over: 'fetch app',
		target: 300,
		gate: 300,
	},
	'angular entry': {
		code: `import { createTokenClient } from './src/index.ts'\nimport { tokenInterceptor } from './src/angular.ts'\nconst client = createTokenClient()\nclient.fetch('/api')\nexport const interceptors = [tokenInterceptor(client)]`,
		splitting: true,
		over: 'fetch app',
		target: 600,
		gate: 600,
	},
} satisfies Record<string, Scenario>

export type BundleName = keyof typeof SCENARIOS

export interface ModuleSize {
	path: string
	/** Minified bytes this module contributes (before gzip, which is not additive). */
	bytes: number
	/** In a chunk behind a dynamic import(). */
	lazy: boolean
}

export interface BundleSize {
	name: BundleName
	/** What loads at once: the entry chunk and the chunks it imports statically (for the glue: what it adds). */
	raw: number
	gzip: number
	budget: number
	withinBudget: boolean
	target: number
	/** Chunks behind a dynamic import() (the in-page fallback): shipped, but loaded only when used. */
	lazy: { raw: number; gzip: number }
	/** Largest first, eager and lazy together. */
	modules: ModuleSize[]
	/** The eager bytes of a development build (process.env.NODE_ENV 'development'), with the long diagnostics. */
	development: { raw: number; gzip: number }
}

async function bundle(scenario: Scenario, nodeEnv: 'production' | 'development'): Promise<Omit<BundleSize, 'name' | 'budget' | 'withinBudget' | 'target' | 'development'>> {
	const result = await build({
		absWorkingDir: root,
		stdin: { contents: scenario.code, resolveDir: root, loader: 'ts', sourcefile: 'app.ts' },
		bundle: true,
		splitting: scenario.splitting,
		minify: true,
		format: 'esm',
		platform: 'browser',
		target: 'es2022',
		external: ['axios', 'react', 'vue', 'rxjs', '@angular/*'],
		define: { 'process.env.NODE_ENV': JSON.stringify(nodeEnv) },
		write: false,
		metafile: true,
		outdir: 'out',
		logLevel: 'silent',
	})
	const outputs = result.metafile.outputs
	const entryOutput = Object.keys(outputs).find((path) => outputs[path]?.entryPoint !== undefined)
	if (entryOutput === undefined) throw new Error('esbuild produced no entry chunk')
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
		const path = Object.keys(outputs).find((output) => file.path.endsWith(output))
		if (path === undefined || !path.endsWith('.js')) continue
		// Each chunk is its own response, compressed on its own.
		const total = eager.has(path) ? totals.eager : totals.lazy
		total.raw += file.contents.length
		total.gzip += gzipSync(file.contents, { level: 9 }).length
		for (const [input, { bytesInOutput }] of Object.entries(outputs[path]?.inputs ?? {})) {
			if (input !== 'app.ts') modules.push({ path: input, bytes: bytesInOutput, lazy: !eager.has(path) })
		}
	}
	return { ...totals.eager, lazy: totals.lazy, modules: modules.sort((a, b) => b.bytes - a.bytes) }
}

/** Bundles every scenario the way an app's bundler would and measures it. */
export async function measureSizes(): Promise<BundleSize[]> {
	const names = Object.keys(SCENARIOS) as BundleName[]
	const measure = async (nodeEnv: 'production' | 'development') => new Map(await Promise.all(names.map(async (name) => [name, await bundle(SCENARIOS[name], nodeEnv)] as const)))
	const [measured, development] = await Promise.all([measure('production'), measure('development')])
	return names.map((name) => {
		const scenario: Scenario = SCENARIOS[name]
		const over = <T extends { raw: number; gzip: number }>(own: T, base: T | undefined) => (base === undefined ? own : { ...own, raw: own.raw - base.raw, gzip: own.gzip - base.gzip })
		const base = scenario.over === undefined ? undefined : measured.get(scenario.over as BundleName)!
		const own = measured.get(name)!
		const size = { ...over(own, base), modules: base === undefined ? own.modules : own.modules.filter((module) => !base.modules.some((other) => other.path === module.path)) }
		const dev = over(development.get(name)!, scenario.over === undefined ? undefined : development.get(scenario.over as BundleName)!)
		return { name, ...size, development: { raw: dev.raw, gzip: dev.gzip }, budget: scenario.gate, withinBudget: size.gzip <= scenario.gate, target: scenario.target }
	})
}

export function formatSizes(sizes: BundleSize[], topModules = 8): string {
	const lines = ['bundle          eager raw B  eager gzip B  gate (gzip)  status            target (gzip)  lazy chunks (gzip)  development eager gzip B']
	for (const size of sizes) {
		const status = size.withinBudget ? 'within gate' : `OVER by ${size.gzip - size.budget} B`
		const target = `≤ ${size.target} ${size.gzip <= size.target ? 'met' : 'not met'}`
		lines.push(
			`${size.name.padEnd(15)} ${String(size.raw).padStart(11)}  ${String(size.gzip).padStart(12)}  ${`≤ ${size.budget}`.padStart(11)}  ${status.padEnd(16)}  ${target.padEnd(13)}  ${(size.lazy.raw === 0 ? '—' : `${size.lazy.gzip} B`).padEnd(18)}  ${size.development.gzip}`,
		)
	}
	for (const size of sizes) {
		lines.push('', `largest modules in ${size.name} (minified bytes, before gzip):`)
		for (const module of size.modules.slice(0, topModules)) lines.push(`  ${String(module.bytes).padStart(5)}  ${module.path}${module.lazy ? '  (lazy)' : ''}`)
	}
	return lines.join('\n')
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
	const sizes = await measureSizes()
	console.log(formatSizes(sizes, Number(process.env.SIZE_TOP) || 8))
	if (sizes.some((size) => !size.withinBudget)) process.exitCode = 1
}
