import { fileURLToPath } from 'node:url'
import react from '@vitejs/plugin-react'
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'
import { VitePWA } from 'vite-plugin-pwa'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

// The demo imports the package by its public names; the aliases point them at the sources.
const alias = [
	{ find: /^sw-token-broker\/sw$/, replacement: here('./sw/index.ts') },
	{ find: /^sw-token-broker\/axios$/, replacement: here('./src/axios.ts') },
	{ find: /^sw-token-broker\/(react|vue|angular)$/, replacement: here('./src/$1.ts') },
	{ find: /^sw-token-broker$/, replacement: here('./src/index.ts') },
]

// Under `vite dev` the demo's API and auth calls go to a dev auth server started on its own
// (SWTB_AUTH_SERVER=http://127.0.0.1:port): the e2e suite runs the demo that way, with no worker.
const authServer = process.env.SWTB_AUTH_SERVER

// The framework examples, each built with its framework's Vite plugin (Angular: compiled in the page, JIT), served at /examples/<name>/.
// The second version (a deploy test of the worker) needs none of them.
const examples = process.env.VITE_DEMO_VERSION === undefined ? Object.fromEntries(['react', 'vue', 'angular'].map((name) => [`examples-${name}`, here(`./examples/${name}/index.html`)])) : {}

export default defineConfig({
	resolve: { alias },
	...(authServer === undefined ? {} : { server: { proxy: Object.fromEntries(['/api', '/auth', '/oauth', '/__control'].map((path) => [path, authServer])) } }),
	build: {
		outDir: 'dist-demo',
		emptyOutDir: true,
		rollupOptions: { input: { main: here('./index.html'), login: here('./login.html'), react: here('./react.html'), ...examples } },
	},
	plugins: [
		react({ include: /examples\/react\/.*\.tsx$/ }),
		vue(),
		VitePWA({
			strategies: 'injectManifest',
			srcDir: 'demo',
			filename: 'sw.ts',
			injectRegister: false,
			manifest: {
				name: 'sw-token-broker demo',
				short_name: 'Token broker',
				description: 'One token refresh for all tabs.',
				start_url: '/',
				scope: '/',
				display: 'standalone',
				background_color: '#ffffff',
				theme_color: '#1f4e79',
				icons: [
					{ src: '/icon-192.png', sizes: '192x192', type: 'image/png' },
					{ src: '/icon-512.png', sizes: '512x512', type: 'image/png' },
					{ src: '/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
				],
			},
			injectManifest: {
				globPatterns: ['**/*.{js,css,html,png,webmanifest}'],
				// The framework examples are e2e apps, not part of the installable demo: Angular's JIT compiler alone is 1 MB.
				globIgnores: ['examples/**', 'assets/examples-*'],
				rollupFormat: 'iife',
				buildPlugins: { vite: [{ name: 'sw-token-broker-alias', config: () => ({ resolve: { alias } }) }] },
			},
		}),
	],
})
