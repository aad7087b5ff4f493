/**
 * `npm run docs:examples` (part of `npm test`): type-checks every ```ts and ```tsx block of
 * README.md and docs/*.md against the library's sources, so an example cannot drift from the API.
 * Each block becomes a module of its own; ```ts worker blocks are checked with the worker's lib
 * (no DOM), the others with the page's and the names of docs/examples/given.d.ts in scope.
 * A block that opens with a file-name comment (`// auth.ts`) is written under that name, so the
 * other blocks of the same guide import it as a user's own modules would (`from './auth.js'`).
 * The generated reference (docs/api/) is left out: its examples come from the TSDoc, which
 * the type-check of the sources already covers.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Code } from 'mdast'
import { fromMarkdown } from 'mdast-util-from-markdown'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = join(root, '.tmp', 'doc-examples')
const sources = [
	'README.md',
	...readdirSync(join(root, 'docs'))
		.filter((name) => name.endsWith('.md'))
		.map((name) => `docs/${name}`),
]

type Side = 'page' | 'worker'
interface Example {
	source: string
	line: number
	file: string
}

function codeBlocks(node: { type: string; children?: unknown[] }): Code[] {
	if (node.type === 'code') return [node as Code]
	return (node.children ?? []).flatMap((child) => codeBlocks(child as { type: string; children?: unknown[] }))
}

rmSync(out, { recursive: true, force: true })
const examples: Record<Side, Example[]> = { page: [], worker: [] }
for (const source of sources) {
	for (const block of codeBlocks(fromMarkdown(readFileSync(join(root, source), 'utf8')))) {
		if (block.lang !== 'ts' && block.lang !== 'tsx') continue
		const side: Side = block.meta?.split(/\s+/).includes('worker') ? 'worker' : 'page'
		// The fence is one line above the code; error positions are mapped back through this.
		const line = (block.position?.start.line ?? 0) + 1
		const named = /^\/\/ ([\w-]+\.tsx?)(?=[\s:]|$)/.exec(block.value)?.[1]
		const file = `${source.replace(/[/.]/g, '_')}/${named ?? `line_${line}.${block.lang}`}`
		if (examples[side].some((example) => example.file === file)) throw new Error(`${source}:${line}: a second ${side} example named ${named}`)
		mkdirSync(join(out, side, dirname(file)), { recursive: true })
		writeFileSync(join(out, side, file), `${block.value}\n`)
		examples[side].push({ source, line, file })
	}
}

const fromOut = (path: string) => relative(join(out, 'page'), join(root, path)).replaceAll('\\', '/')
let failed = false
for (const side of ['page', 'worker'] as const) {
	if (examples[side].length === 0) continue
	const tsconfig = {
		extends: fromOut('tsconfig.json'),
		compilerOptions: {
			noEmit: true,
			...(side === 'worker' ? { lib: ['es2022', 'webworker'], types: [] } : {}),
			paths: {
				'sw-token-broker': [fromOut('src/index.ts')],
				'sw-token-broker/axios': [fromOut('src/axios.ts')],
				'sw-token-broker/sw': [fromOut('sw/index.ts')],
				'sw-token-broker/testing': [fromOut('testing/index.ts')],
				'sw-token-broker/react': [fromOut('src/react.ts')],
				'sw-token-broker/vue': [fromOut('src/vue.ts')],
				'sw-token-broker/angular': [fromOut('src/angular.ts')],
			},
		},
		// The testing entry's own ambient module declaration, as its sources get it from the root tsconfig.
		include: ['**/*.ts', '**/*.tsx', ...(side === 'page' ? [fromOut('docs/examples/given.d.ts'), fromOut('testing/oidc-provider-module.d.ts')] : [])],
		exclude: [],
	}
	writeFileSync(join(out, side, 'tsconfig.json'), JSON.stringify(tsconfig, null, '\t'))
	const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(out, side, 'tsconfig.json'), '--pretty', 'false'], { encoding: 'utf8' })
	// tsc names the extracted file; say where the example is in the docs instead.
	const report = `${tsc.stdout}${tsc.stderr}`.replace(/^(\S+\.tsx?)\((\d+),(\d+)\)/gm, (match, file: string, line: string, column: string) => {
		const example = examples[side].find((candidate) => file.replaceAll('\\', '/').endsWith(`/${candidate.file}`))
		return example === undefined ? match : `${example.source}:${example.line + Number(line) - 1}:${column}`
	})
	if (tsc.status !== 0) {
		failed = true
		console.error(report.trim())
	}
	console.log(`${side}: ${examples[side].length} examples ${tsc.status === 0 ? 'type-check' : 'FAIL'}`)
}
if (failed) process.exitCode = 1
