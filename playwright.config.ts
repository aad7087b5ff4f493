import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { defineConfig } from '@playwright/test'

// Playwright cannot download its browsers on every machine: an env var, else Debian's, else its own.
const systemBrowser = (envVar: string, debianPath: string) => process.env[envVar] || (existsSync(debianPath) ? debianPath : undefined)
const chromiumPath = systemBrowser('CHROMIUM_PATH', '/usr/bin/chromium')
const firefoxPath = systemBrowser('FIREFOX_PATH', '/usr/bin/firefox-esr')

export default defineConfig({
	testDir: 'e2e',
	timeout: 60_000,
	expect: { timeout: 10_000 },
	fullyParallel: true,
	// At least two: the suite is mostly waiting on browsers, and one worker takes twice as long on a 2-core CI machine.
	workers: process.env.CI ? 2 : Math.max(2, Math.floor(availableParallelism() / 2)),
	forbidOnly: Boolean(process.env.CI),
	reporter: [['list']],
	use: {
		trace: 'retain-on-failure',
	},
	projects: [
		{
			name: 'chromium',
			use: {
				browserName: 'chromium',
				launchOptions: {
					...(chromiumPath === undefined ? {} : { executablePath: chromiumPath }),
					args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
				},
			},
		},
		{
			name: 'firefox',
			use: {
				browserName: 'firefox',
				// A system Firefox is driven over WebDriver BiDi ('moz-firefox'); Playwright's own build over its Juggler protocol.
				// The chrome-scope access lets testing/index.ts stop workers and hard-reload, which BiDi alone cannot.
				...(firefoxPath === undefined ? {} : { channel: 'moz-firefox' }),
				launchOptions: {
					...(firefoxPath === undefined ? {} : { executablePath: firefoxPath, args: ['--remote-allow-system-access'] }),
				},
			},
		},
	],
})
