import { defineConfig } from 'vitest/config'

// Unit tests only; the Playwright specs in e2e/ run in Chromium, not here.
export default defineConfig({
	test: { include: ['test/**/*.test.ts', 'test/**/*.test.tsx'] },
})
