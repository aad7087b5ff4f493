/**
 * Takes the README's screenshot of the demo (`npm run screenshot`, after `npm run build:demo`):
 * signs in, expires the token at the server, fires requests in two tabs, and captures one tab.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium } from '@playwright/test'
import { startDevAuthServer } from '../testing/index.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const executablePath = process.env.CHROMIUM_PATH || (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined)
const server = await startDevAuthServer({ staticDir: `${root}dist-demo`, accessTtlMs: 60_000 })
const browser = await chromium.launch({
	...(executablePath === undefined ? {} : { executablePath }),
	args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
})
try {
	const context = await browser.newContext({ viewport: { width: 1100, height: 640 } })
	const page = await context.newPage()
	await page.goto(`${server.url}/login`)
	await page.getByRole('button', { name: 'Sign in' }).click()
	await page.waitForURL(`${server.url}/`)
	const other = await context.newPage()
	await other.goto(`${server.url}/`)
	await page.getByRole('button', { name: 'Expire token (server)' }).click()
	await Promise.all([page, other].map((tab) => tab.getByRole('button', { name: 'Fire requests' }).click()))
	await page.getByText('20 of 20 requests succeeded').waitFor()
	await page.waitForTimeout(1_500)
	await page.screenshot({ path: `${root}docs/demo.png` })
	console.log('wrote docs/demo.png')
} finally {
	await browser.close()
	await server.close()
}
