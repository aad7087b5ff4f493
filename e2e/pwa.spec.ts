import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from './fixtures.js'

// Chromium never calls an off-the-record context installable, so this test uses a real profile.
test('the demo is an installable PWA', async ({ playwright, launchOptions, browserName, server }) => {
	test.skip(browserName !== 'chromium', 'installability is a Chromium verdict, read over CDP (Page.getInstallabilityErrors); Firefox has no install prompt on desktop')
	const profile = await mkdtemp(join(tmpdir(), 'swtb-profile-'))
	const context = await playwright.chromium.launchPersistentContext(profile, launchOptions)
	try {
		const page = context.pages()[0] ?? (await context.newPage())
		await page.goto(`${server.url}/login`)
		await page.evaluate(() => navigator.serviceWorker.ready)
		const cdp = await context.newCDPSession(page)
		const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors')
		expect(installabilityErrors).toEqual([])
	} finally {
		await context.close()
		await rm(profile, { recursive: true, force: true })
	}
})

test("the demo's shell loads offline after the first visit", async ({ context, server }) => {
	const page = await context.newPage()
	await page.goto(`${server.url}/login`)
	await page.evaluate(() => navigator.serviceWorker.ready)
	// The worker precached the shell; with the network gone, it still comes up.
	await page.reload()
	await context.setOffline(true)
	await page.goto(`${server.url}/login`)
	await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible()
	await page.goto(`${server.url}/`)
	await expect(page.locator('h1')).toHaveText('sw-token-broker')
})
