// `node tools/run.js <tool> [args]`: runs eslint or typedoc from tools/, where they sit beside the
// TypeScript 5.9 whose JS API they need (the root's TypeScript 7 is native and has none; in the
// root's node_modules npm would hoist their helpers, such as ts-api-utils, next to TypeScript 7).
// A fresh clone's `npm ci` installs only the root, so the first run installs tools/ from its
// lockfile, and so does the first run after that lockfile changed.
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const tools = fileURLToPath(new URL('.', import.meta.url))
const installed = join(tools, 'node_modules', '.package-lock.json')

function run(command, args) {
	const result = spawnSync(command, args, { stdio: 'inherit', shell: process.platform === 'win32' })
	if (result.status !== 0) process.exit(result.status ?? 1)
}

if (!existsSync(installed) || statSync(join(tools, 'package-lock.json')).mtimeMs > statSync(installed).mtimeMs) {
	run('npm', ['ci', '--prefix', tools, '--no-audit', '--no-fund', '--loglevel=error'])
}
const [tool, ...args] = process.argv.slice(2)
if (tool === undefined) throw new Error('usage: node tools/run.js <eslint | typedoc> [args]')
run(join(tools, 'node_modules', '.bin', tool), args)
