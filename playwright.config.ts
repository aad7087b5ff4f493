import { existsSync } from 'node:fs'
import { defineConfig } from '@playwright/test'

// Playwright cannot download its browsers on every machine: CHROMIUM_PATH, else Debian's, else its own.
const executablePath = process.env.CHROMIUM_PATH || (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined)

export default defineConfig({
	testDir: 'e2e',
	timeout: 60_000,
	expect: { timeout: 10_000 },
	fullyParallel: true,
	workers: process.env.CI ? 2 : undefined,
	forbidOnly: Boolean(process.env.CI),
	reporter: [['list']],
	use: {
		browserName: 'chromium',
		launchOptions: {
			...(executablePath === undefined ? {} : { executablePath }),
			args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
		},
		trace: 'retain-on-failure',
	},
})
