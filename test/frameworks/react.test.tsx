// @vitest-environment happy-dom
import { act } from 'react'
import { type Root, createRoot } from 'react-dom/client'
import { renderToString } from 'react-dom/server'
import { afterEach, describe, expect, it } from 'vitest'
import { AuthGate, useAuth } from '../../src/react.js'
import type { TokenClient } from '../../src/create-token-client.js'
import { flush } from '../core/helpers.js'
import { FakeWorld, closeClients, openClient } from '../page/fake-world.js'

Object.assign(globalThis, { IS_REACT_ACT_ENVIRONMENT: true })

const roots: Root[] = []

afterEach(() => {
	for (const root of roots.splice(0)) act(() => root.unmount())
	document.body.innerHTML = ''
	closeClients()
})

let renders = 0

function Status({ client }: { client: TokenClient }) {
	renders += 1
	const auth = useAuth(client)
	return (
		<p id="status">
			{auth.status}
			{auth.expiresAt === undefined ? '' : ` until ${auth.expiresAt}`}
		</p>
	)
}

function render(node: React.ReactNode): HTMLElement {
	const container = document.body.appendChild(document.createElement('div'))
	const root = createRoot(container)
	roots.push(root)
	act(() => root.render(node))
	return container
}

/** Lets the fake world deliver its broadcasts, with React's updates flushed. */
const settle = () =>
	act(async () => {
		for (let round = 0; round < 5; round++) await flush()
	})

describe('sw-token-broker/react', () => {
	it('useAuth follows a sign-in and a logout made in another tab', async () => {
		const world = new FakeWorld()
		const [other, tab] = [openClient(world), openClient(world)]
		const view = render(<Status client={tab.client} />)
		await settle()
		expect(view.textContent).toBe('signed-out')
		await act(() => other.client.login(world.issue({ expiresAt: world.clock.now + 600_000 })))
		await settle()
		expect(view.textContent).toBe(`signed-in until ${world.clock.now + 600_000}`)
		await act(() => other.client.logout())
		await settle()
		expect(view.textContent).toBe('signed-out')
	})

	it('useAuth re-renders when the state changes and not for a new token that leaves it as it was', async () => {
		const world = new FakeWorld()
		const { client } = openClient(world)
		await client.login(world.issue())
		const view = render(<Status client={client} />)
		await settle()
		expect(view.textContent).toBe('signed-in')
		const before = renders
		await act(() => client.refresh())
		await settle()
		expect(client.state.status).toBe('signed-in')
		expect(renders).toBe(before)
	})

	it('AuthGate shows `connecting`, then `signedOut`, then its children once signed in', async () => {
		const world = new FakeWorld()
		const { client } = openClient(world)
		const view = render(
			<AuthGate client={client} connecting={<p>…</p>} signedOut={<button>Sign in</button>}>
				<p>orders</p>
			</AuthGate>,
		)
		expect(view.innerHTML).toBe('<p>…</p>')
		await settle()
		expect(view.innerHTML).toBe('<button>Sign in</button>')
		await act(() => client.login(world.issue()))
		await settle()
		expect(view.innerHTML).toBe('<p>orders</p>')
	})

	it('a server render shows `connecting`, whatever the client holds, so hydration starts where the server left off', async () => {
		const world = new FakeWorld()
		const { client } = openClient(world)
		await client.login(world.issue())
		await flush()
		expect(client.state.status).toBe('signed-in')
		expect(
			renderToString(
				<AuthGate client={client} connecting={<p>…</p>}>
					<p>orders</p>
				</AuthGate>,
			),
		).toBe('<p>…</p>')
	})
})
