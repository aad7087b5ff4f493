import { existsSync } from 'node:fs'
import { defineConfig } from '@playwright/test'

// As in sw-token-broker's own config: CHROMIUM_PATH, else Debian's, else Playwright's own.
const executablePath = process.env.CHROMIUM_PATH || (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined)

export default defineConfig({
	testDir: 'tests',
	timeout: 60_000,
	expect: { timeout: 10_000 },
	workers: 1,
	retries: 0,
	forbidOnly: true,
	reporter: [['list']],
	use: {
		browserName: 'chromium',
		launchOptions: {
			...(executablePath === undefined ? {} : { executablePath }),
			args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
		},
	},
})
