// @vitest-environment happy-dom
import { createApp, createSSRApp, defineComponent, effectScope, h, nextTick } from 'vue'
import { renderToString } from 'vue/server-renderer'
import { afterEach, describe, expect, it } from 'vitest'
import { useAuth } from '../../src/vue.js'
import type { TokenClient } from '../../src/create-token-client.js'
import { flush } from '../core/helpers.js'
import { FakeWorld, closeClients, openClient } from '../page/fake-world.js'

afterEach(() => {
	document.body.innerHTML = ''
	closeClients()
})

/** The client as useAuth sees it, counting the listeners it holds. */
function counted(client: TokenClient) {
	let listening = 0
	return {
		get listening() {
			return listening
		},
		get state() {
			return client.state
		},
		subscribe(listener: Parameters<TokenClient['subscribe']>[0]) {
			listening += 1
			const stop = client.subscribe(listener)
			return () => {
				listening -= 1
				stop()
			}
		},
	}
}

const Status = defineComponent({
	props: { client: { type: Object as () => Pick<TokenClient, 'state' | 'subscribe'>, required: true } },
	setup(props) {
		const auth = useAuth(props.client)
		return () => h('p', auth.expiresAt === undefined ? auth.status : `${auth.status} until ${auth.expiresAt}`)
	},
})

const settle = async () => {
	for (let round = 0; round < 5; round++) await flush()
	await nextTick()
}

describe('sw-token-broker/vue', () => {
	it('useAuth follows a sign-in and a logout made in another tab, and lets its listener go on unmount', async () => {
		const world = new FakeWorld()
		const [other, tab] = [openClient(world), openClient(world)]
		const client = counted(tab.client)
		const app = createApp(Status, { client })
		const view = document.body.appendChild(document.createElement('div'))
		app.mount(view)
		await settle()
		expect(view.textContent).toBe('signed-out')
		await other.client.login(world.issue({ expiresAt: world.clock.now + 600_000 }))
		await settle()
		expect(view.textContent).toBe(`signed-in until ${world.clock.now + 600_000}`)
		await other.client.logout()
		await settle()
		expect(view.textContent).toBe('signed-out')
		expect(client.listening).toBe(1)
		app.unmount()
		expect(client.listening).toBe(0)
	})

	it('the state it returns is readonly: a write leaves it as the client says', async () => {
		const world = new FakeWorld()
		const { client } = openClient(world)
		await client.login(world.issue())
		await flush()
		const scope = effectScope()
		const auth = scope.run(() => useAuth(client))!
		;(auth as { status: string }).status = 'signed-out'
		expect(auth.status).toBe('signed-in')
		scope.stop()
	})

	it('outside a component it follows the client until its effect scope stops', async () => {
		const world = new FakeWorld()
		const { client: tabClient } = openClient(world)
		const client = counted(tabClient)
		const scope = effectScope()
		const auth = scope.run(() => useAuth(client))!
		await tabClient.login(world.issue())
		await settle()
		expect(auth.status).toBe('signed-in')
		scope.stop()
		expect(client.listening).toBe(0)
	})

	it('a server render (Nuxt SSR) reads the state and leaves no listener behind', async () => {
		const world = new FakeWorld()
		const { client: tabClient } = openClient(world)
		await tabClient.login(world.issue())
		await flush()
		const client = counted(tabClient)
		expect(await renderToString(createSSRApp(Status, { client }))).toBe('<p>signed-in</p>')
		expect(client.listening).toBe(0)
	})
})
