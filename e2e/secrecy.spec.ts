import { expect, fire, openSignedInTabs, test } from './fixtures.js'
import { readableByScript, recordMessages } from './page-secrets.js'

test('after a login through exchange, no refresh token ever issued is readable by page script', async ({ context, server }) => {
	await context.addInitScript(recordMessages)
	const tabs = await openSignedInTabs(context, server, 2)
	// Two refreshes rotate the refresh token twice; every version must stay in the worker.
	for (let cycle = 0; cycle < 2; cycle++) {
		server.expireAccessTokens()
		expect((await fire(tabs[0]!, 3)).ok).toBe(3)
	}
	const issued = server.issuedRefreshTokens()
	expect(issued).toHaveLength(3)
	for (const tab of tabs) {
		const readable = await readableByScript(tab)
		expect(readable).toContain('"swtb":1')
		for (const refreshToken of issued) expect(readable).not.toContain(refreshToken)
	}
})
