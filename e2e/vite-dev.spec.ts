import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDevAuthServer } from '../testing/index.js'
import { demoReady, expect, expectOneRefreshForAllTabs, test } from './fixtures.js'

const root = fileURLToPath(new URL('..', import.meta.url))

/** `vite dev` on the demo, in a process of its own (vite loaded into the test worker unsettles Firefox's driver), on a free port. */
async function startViteDev(authServer: string): Promise<{ url: string; process: ChildProcess }> {
	const child = spawn(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), '--host', '127.0.0.1', '--port', '0'], {
		cwd: root,
		env: { ...process.env, SWTB_AUTH_SERVER: authServer, NO_COLOR: '1' },
		stdio: ['ignore', 'pipe', 'inherit'],
	})
	let output = ''
	const url = await new Promise<string>((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error(`vite dev did not start: ${output}`)), 30_000)
		child.stdout.on('data', (chunk: Buffer) => {
			output += chunk.toString()
			const found = /http:\/\/127\.0\.0\.1:\d+/.exec(output)?.[0]
			if (found !== undefined) {
				clearTimeout(timer)
				resolve(found)
			}
		})
		child.once('exit', (code) => reject(new Error(`vite dev exited with ${code}: ${output}`)))
	})
	return { url, process: child }
}

const connected = (page: import('@playwright/test').Page) => page.evaluate(() => (window as any).swtbDemo.connected as { host?: string; afterMs?: number })

test('vite dev: the demo under a real vite dev server (no worker) falls back in the page within 1 s, and 3 tabs refresh once', async ({ context }) => {
	const auth = await startDevAuthServer({ accessTtlMs: 60_000 })
	const vite = await startViteDev(auth.url)
	try {
		const login = await context.newPage()
		await login.goto(`${vite.url}/login.html`)
		await demoReady(login)
		await expect.poll(() => connected(login), { timeout: 15_000 }).toMatchObject({ host: 'in-page' })
		const { afterMs } = await connected(login)
		console.log(`vite dev: host "in-page" after ${afterMs} ms`)
		expect(afterMs).toBeLessThanOrEqual(1_500)
		await login.getByRole('button', { name: 'Sign in' }).click()
		await login.waitForURL(`${vite.url}/`)
		const tabs = [
			login,
			...(await Promise.all(
				[1, 2].map(async () => {
					const tab = await context.newPage()
					await tab.goto(`${vite.url}/`)
					await expect(tab.locator('#state')).toHaveText('signed in', { timeout: 30_000 })
					return tab
				}),
			)),
		]
		await expectOneRefreshForAllTabs(auth, tabs, 10)
	} finally {
		vite.process.kill()
		await once(vite.process, 'exit')
		await auth.close()
	}
})
