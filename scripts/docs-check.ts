/**
 * `npm run docs:check` (part of `npm test`): the committed API reference (docs/api/) is what
 * `npm run docs` writes from the code now. It generates a fresh copy beside it and compares
 * file by file, so a changed TSDoc, option or export without a regenerated reference fails.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const committed = join(root, 'docs', 'api')
const fresh = join(root, '.tmp', 'api-check')

function files(dir: string): string[] {
	if (!existsSync(dir)) return []
	return readdirSync(dir, { withFileTypes: true, recursive: true })
		.filter((entry) => entry.isFile())
		.map((entry) => relative(dir, join(entry.parentPath, entry.name)))
		.sort()
}

rmSync(fresh, { recursive: true, force: true })
const typedoc = spawnSync(process.execPath, [join(root, 'tools', 'run.js'), 'typedoc', '--out', fresh, '--logLevel', 'Warn'], { cwd: root, stdio: 'inherit' })
if (typedoc.status !== 0) process.exit(typedoc.status ?? 1)

const before = files(committed)
const after = files(fresh)
const stale = [
	...after.filter((file) => !before.includes(file)).map((file) => `missing: docs/api/${file}`),
	...before.filter((file) => !after.includes(file)).map((file) => `no longer generated: docs/api/${file}`),
	...after.filter((file) => before.includes(file) && readFileSync(join(committed, file), 'utf8') !== readFileSync(join(fresh, file), 'utf8')).map((file) => `changed: docs/api/${file}`),
]
if (stale.length > 0) {
	console.error(`docs/api/ is not what the code generates (run \`npm run docs\` and commit it):\n  ${stale.join('\n  ')}`)
	process.exitCode = 1
} else console.log(`docs/api/ is current (${after.length} files)`)
