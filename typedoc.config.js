// `npm run docs`: the API reference in docs/api/, from the TSDoc of every public entry.
// The entries are read from package.json's exports, so a new entry (./react, ./vue, ./angular)
// is documented as soon as it is exported; TypeDoc itself runs from tools/ (it needs TypeScript 5).
import { readFileSync } from 'node:fs'

const { exports } = JSON.parse(readFileSync(new URL('package.json', import.meta.url), 'utf8'))
// "./dist/src/axios.d.ts" is built from "./src/axios.ts".
const entryPoints = Object.values(exports)
	.map((target) => (typeof target === 'object' ? target.types : undefined))
	.filter((types) => typeof types === 'string')
	.map((types) => types.replace(/^\.\/dist\//, './').replace(/\.d\.ts$/, '.ts'))

/** @type {Partial<import('typedoc').TypeDocOptions & import('typedoc-plugin-markdown').PluginOptions>} */
export default {
	entryPoints,
	tsconfig: './tsconfig.build.json',
	out: './docs/api',
	plugin: ['typedoc-plugin-markdown'],
	readme: 'none',
	entryFileName: 'README.md',
	excludePrivate: true,
	excludeInternal: true,
	// Dates and versions in the output would make the committed reference stale on every run.
	hideGenerator: true,
	sourceLinkTemplate: undefined,
	disableSources: true,
	// The type-check is TypeScript 7's (npm run typecheck); 5.9 reads one inference in src/transports/in-page.ts differently.
	skipErrorChecking: true,
	treatWarningsAsErrors: true,
	validation: { notExported: true, invalidLink: true, notDocumented: true },
	// Every exported declaration and method needs a comment; a property only where it is an option (defaults) or an error's field, which this list cannot tell apart from an event's `type`.
	requiredToBeDocumented: ['Class', 'Function', 'Interface', 'TypeAlias', 'Variable', 'Enum', 'Method'],
	// Structural types the public ones mention; their members are listed where they are used.
	intentionallyNotExported: ['TimelineEntry', 'RefreshUnavailableOptions', 'PeerWorker', 'Port', 'BrokerInstallEvent', 'ServerClock', 'SignInFlow', 'Answer'],
}
