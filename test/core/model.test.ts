/**
 * Model-based randomized test of the broker core (fast-check in Vitest).
 *
 * The real system (test/model/world.ts): one BrokerCore playing the service worker, N TabSessions
 * with an axios instance each, an API server that accepts only the access tokens the auth server
 * considers live, and an auth server with refresh-token ROTATION and REUSE DETECTION. Every
 * asynchronous hop goes through fast-check's scheduler; fast-check generates the commands
 * (requests, aborts, 401s by access-token revocation, expiries by advancing fake time, refresh
 * success / 503 / offline / invalid_grant, slow refreshes that time out, login, exchange, logout,
 * keep-alive pings, forced refreshes, new tabs, worker kills and version hand-overs) and the
 * interleaving, and shrinks both when an invariant breaks. The auth server answers with HTTP
 * responses (503 and 429 with or without Retry-After, 400 invalid_scope, HTML, 400/403
 * invalid_grant, 400 invalid_client) that the presets' readTokenResponse classifies.
 *
 * Invariants, after every command and at rest:
 *  1. every operation settles, with success or an expected error (AxiosError 401, LoggedOutError,
 *     RefreshUnavailableError, CanceledError, BrokerTimeoutError; LoginFailedError for exchange);
 *  2. at most one call of the refresh function is in flight at any time (across worker instances);
 *  3. the auth server never sees a refresh token presented twice (rotation + reuse detection).
 *     Persistence is not modelled (memory mode only), so this must hold across restarts too.
 *     Exempt, counted apart: a token whose rotation the broker never learnt of because it
 *     abandoned the call at its hard cap (AuthServer.rotatedUnseen);
 *  4. a tab never goes back to an older token ("older" = adopted earlier by the broker): token
 *     events strictly newer, no request sent with a token older than one the tab had when the
 *     request was made, a retry uses a newer token than the refused one, at most one retry;
 *     a tab runs onLogout only for a logout the broker made after the newest token the tab holds;
 *  5. after a logout (definitive refresh failure, or the user) no refresh is called by that broker
 *     (or the version it handed over to) until the next login, and no broker — a restarted one
 *     included — presents a refresh token of the logged-out session. Exempt, counted apart: in
 *     cookie mode a restarted worker that forgot a session ended by a definitive refresh failure
 *     may present its (already rejected) cookie once more, and must be rejected again
 *     (World.forgottenRejections); and a cookie a user logout could not clear because its server
 *     logout did not get through (World.keptCookies);
 *  6. the refresh gate (spec 6): no call goes out before the attempt the broker announced in its
 *     'backoff' event; a failure announces a wait of 2 s to 5 s, or the Retry-After (capped at
 *     60 s) when longer; a resume announces an attempt now, but not within 1 s of the last one nor
 *     before a Retry-After; a refresh request is refused at once only when the next attempt is not
 *     due within its time limit; and only a definitive answer (401, 4xx invalid_grant /
 *     invalid_client) ends a session — nobody is logged out by a transient failure;
 *  plus the refresh token never appears in a reply or broadcast (spec 11); at rest every tab agrees
 *  with the broker (spec 9); and, once the auth server heals, requests made at once (after any
 *  Retry-After beyond 5 s) join the next attempt, and every tab's requests either succeed or fail
 *  with LoggedOutError (no tab is stuck with 401s or RefreshUnavailableError).
 *
 * Model assumptions (what the browser and sw/broker-host.ts guarantee): messages tab→worker and
 * worker→tab are FIFO per tab, replies come on their own port; every delivered hop takes 1 ms of
 * wall clock; the browser stops a worker only when it is idle (nothing being handled and no
 * refresh, exchange or server logout running — the host holds them with event.waitUntil — and
 * nothing in transit), and it restarts 50 ms later with empty memory and asks the tabs to seed it;
 * a version hand-over waits, like the host, for BrokerCore.idle() (refresh, exchanges, server
 * logouts); a refresh or server logout aborted before it reaches the auth server is never
 * processed, one aborted after it was processed loses its answer (and, in cookie mode, the cookie).
 *
 * Replay a failure: fast-check prints "seed" and "path" (and the shrunk commands plus the
 * scheduler's task order). Run
 *
 *   FC_SEED=<seed> FC_PATH="<path>" FC_REPLAY_PATH="<replayPath>" npx vitest run test/core/model.test.ts -t '<test name>'
 *
 * where <replayPath> is the /*replayPath="…"*\/ comment fast-check prints after the commands (fc.commands
 * needs it to rebuild the shrunk command list; FC_SEED alone re-runs the whole search to the same failure).
 * FC_RUNS=<n> overrides the number of runs (e.g. FC_RUNS=20000 for a long soak).
 */
import fc from 'fast-check'
import { describe, it, vi } from 'vitest'
import { LoggedOutError } from '../../src/core/errors/logged-out-error.js'
import { type AuthMode, type ServerMode, World, type WorldConfig, describeError } from '../model/world.js'

interface Model {
	readonly world: World
}
type Command = fc.AsyncCommand<Model, World>

function assertClean(world: World, when: string): void {
	if (world.violations.length === 0) return
	throw new Error(`${when}:\n- ${world.violations.join('\n- ')}\n\n${world.summary()}`)
}

abstract class WorldCommand implements Command {
	check(_model: Readonly<Model>): boolean {
		return true
	}

	async run(_model: Model, world: World): Promise<void> {
		await this.act(world)
		await world.settle()
		world.checkInvariants()
		assertClean(world, `after ${this.toString()}`)
	}

	protected abstract act(world: World): Promise<void> | void
	abstract toString(): string
}

/** Tab numbers are taken modulo the number of open tabs, so commands stay valid while tabs are added. */
function tabOf(world: World, tab: number) {
	return world.tabs[tab % world.tabs.length]!
}

class SendRequest extends WorldCommand {
	constructor(
		readonly tab: number,
		readonly abortable: boolean,
	) {
		super()
	}
	protected act(world: World) {
		world.request(tabOf(world, this.tab), this.abortable)
	}
	toString() {
		return `request(tab ${this.tab}${this.abortable ? ', abortable' : ''})`
	}
}

class Abort extends WorldCommand {
	constructor(readonly which: number) {
		super()
	}
	protected act(world: World) {
		const abortable = world.ops.filter((op) => op.controller !== undefined && !op.controller.signal.aborted)
		abortable[this.which % Math.max(1, abortable.length)]?.controller?.abort()
	}
	toString() {
		return `abort(${this.which})`
	}
}

/** Lets fast-check release `count` scheduled hops (messages, replies, broadcasts, API and auth-server answers). */
class Step extends WorldCommand {
	constructor(readonly count: number) {
		super()
	}
	protected act(world: World) {
		return world.step(this.count)
	}
	toString() {
		return `step(${this.count})`
	}
}

/** Time passes: tokens expire, backoff ends, a refresh still running past 10 s times out. */
class Advance extends WorldCommand {
	constructor(readonly ms: number) {
		super()
	}
	protected act(world: World) {
		world.advance(this.ms)
	}
	toString() {
		return `advance(${this.ms} ms)`
	}
}

class SetServerMode extends WorldCommand {
	constructor(
		readonly mode: ServerMode,
		readonly retryAfter: number | undefined,
	) {
		super()
	}
	protected act(world: World) {
		world.server.mode = this.mode
		world.server.retryAfter = this.retryAfter
	}
	toString() {
		return `authServer(${this.mode}${this.retryAfter === undefined ? '' : `, Retry-After ${this.retryAfter}`})`
	}
}

/** The page's `online` event or a tab made visible: the broker's wait starts over. */
class Resume extends WorldCommand {
	constructor(readonly tab: number) {
		super()
	}
	protected act(world: World) {
		world.resume(tabOf(world, this.tab))
	}
	toString() {
		return `resume(tab ${this.tab})`
	}
}

/** The API starts answering 401 for every access token issued so far. */
class RevokeAccess extends WorldCommand {
	protected act(world: World) {
		world.server.revokeAccessTokens()
	}
	toString() {
		return 'revokeAccessTokens()'
	}
}

class Login extends WorldCommand {
	constructor(
		readonly tab: number,
		readonly viaExchange: boolean,
	) {
		super()
	}
	protected act(world: World) {
		const tab = tabOf(world, this.tab)
		if (this.viaExchange) world.exchange(tab)
		else world.login(tab)
	}
	toString() {
		return `${this.viaExchange ? 'exchange' : 'login'}(tab ${this.tab})`
	}
}

class Logout extends WorldCommand {
	constructor(readonly tab: number) {
		super()
	}
	protected act(world: World) {
		world.logout(tabOf(world, this.tab))
	}
	toString() {
		return `logout(tab ${this.tab})`
	}
}

/** The keep-alive ping; after a restart it makes the tab seed the broker with its access token. */
class Ping extends WorldCommand {
	constructor(readonly tab: number) {
		super()
	}
	protected act(world: World) {
		world.ping(tabOf(world, this.tab))
	}
	toString() {
		return `ping(tab ${this.tab})`
	}
}

class ForceRefresh extends WorldCommand {
	constructor(readonly tab: number) {
		super()
	}
	protected act(world: World) {
		world.forceRefresh(tabOf(world, this.tab))
	}
	toString() {
		return `client.refresh(tab ${this.tab})`
	}
}

class OpenTab extends WorldCommand {
	override check(model: Readonly<Model>) {
		return model.world.tabs.length < 4
	}
	protected act(world: World) {
		world.openTab()
	}
	toString() {
		return 'openTab()'
	}
}

/**
 * 'kill': the browser stops the worker (memory mode) while it is idle (event.waitUntil holds it
 * while it handles a request): its state is lost, the tabs are asked to seed it.
 * 'handover': a new version takes over with the old one's session; like sw/broker-host.ts, it
 * waits until the old one is idle (no refresh, exchange or server logout running).
 */
class Restart extends WorldCommand {
	constructor(readonly kind: 'kill' | 'handover') {
		super()
	}
	override check(model: Readonly<Model>) {
		// The host's hand-over waits for BrokerCore.idle(); the browser stops only an idle worker.
		return this.kind === 'kill' ? model.world.workerIdle : !model.world.core.busy
	}
	protected act(world: World) {
		if (this.kind === 'kill') world.killWorker()
		else world.handOver()
	}
	toString() {
		return `restartWorker(${this.kind})`
	}
}

const MAX_COMMANDS = 50
const tab = fc.nat(7)
const command: fc.Arbitrary<Command> = fc.oneof(
	{ weight: 8, arbitrary: fc.tuple(tab, fc.boolean()).map(([t, abortable]) => new SendRequest(t, abortable)) },
	{ weight: 10, arbitrary: fc.integer({ min: 1, max: 8 }).map((n) => new Step(n)) },
	{ weight: 3, arbitrary: fc.constantFrom(500, 2_000, 3_000, 5_000, 9_000, 11_000, 25_000, 61_000).map((ms) => new Advance(ms)) },
	{
		weight: 3,
		arbitrary: fc
			.tuple(
				fc.constantFrom<ServerMode>('ok', 'ok', 'ok', 'down', 'down', 'busy', 'offline', 'bad-request', 'garbage', 'reject', 'forbidden', 'misconfigured'),
				fc.constantFrom<number | undefined>(undefined, undefined, 1, 3, 8, 120),
			)
			.map(([mode, retryAfter]) => new SetServerMode(mode, retryAfter)),
	},
	{ weight: 1, arbitrary: tab.map((t) => new Resume(t)) },
	{ weight: 1, arbitrary: fc.constant(new RevokeAccess()) },
	{ weight: 1, arbitrary: fc.tuple(tab, fc.boolean()).map(([t, viaExchange]) => new Login(t, viaExchange)) },
	{ weight: 1, arbitrary: tab.map((t) => new Logout(t)) },
	{ weight: 1, arbitrary: tab.map((t) => new Ping(t)) },
	{ weight: 1, arbitrary: tab.map((t) => new ForceRefresh(t)) },
	{ weight: 1, arbitrary: fc.nat(7).map((k) => new Abort(k)) },
	{ weight: 1, arbitrary: fc.constantFrom<'kill' | 'handover'>('kill', 'handover').map((kind) => new Restart(kind)) },
	{ weight: 1, arbitrary: fc.constant(new OpenTab()) },
)

const config: fc.Arbitrary<WorldConfig> = fc.record({
	tabs: fc.integer({ min: 1, max: 3 }),
	auth: fc.constantFrom<AuthMode>('body', 'cookie'),
	expiresIn: fc.constantFrom<number | undefined>(undefined, 20, 60),
	randomSeed: fc.integer(),
})

function envNumber(name: string): number | undefined {
	const value = process.env[name]
	if (value === undefined || value === '') return undefined
	const number = Number(value)
	if (!Number.isFinite(number)) throw new Error(`${name} must be a number, got ${value}`)
	return number
}

/** fc.assert options: FC_SEED / FC_PATH replay a reported failure, FC_RUNS overrides the run count. */
function assertOptions(numRuns: number): fc.Parameters<unknown> {
	const seed = envNumber('FC_SEED')
	const path = process.env.FC_PATH
	const runs = envNumber('FC_RUNS')
	return {
		numRuns: runs ?? numRuns,
		...(seed === undefined ? {} : { seed }),
		...(path === undefined || path === '' ? {} : { path, endOnFailure: true }),
	}
}

/** FC_REPLAY_PATH: the commands' own replay path, printed as /*replayPath="…"*\/ after the commands. */
function commandOptions(maxCommands: number): { maxCommands: number; size: 'max'; replayPath?: string } {
	const replayPath = process.env.FC_REPLAY_PATH
	// size 'max': command lists up to maxCommands long (the default size keeps them around 5).
	return replayPath === undefined || replayPath === '' ? { maxCommands, size: 'max' } : { maxCommands, size: 'max', replayPath }
}

/** FC_STATS=1 prints what the runs exercised (to tune the generators). */
const stats = new Map<string, number>()
function count(key: string, by = 1): void {
	stats.set(key, (stats.get(key) ?? 0) + by)
}
function collect(world: World, commands: number): void {
	count('runs')
	count('commands', commands)
	count(`auth ${world.config.auth}`)
	count('refresh calls', world.refreshCalls.length)
	count('refresh requests that joined a scheduled attempt', world.joinedScheduled)
	for (const received of world.server.received) count(`auth server refresh → ${received.result.split(' ')[0]}`)
	count('unavoidable reuse (hard cap)', world.server.unavoidableReuse.length)
	count('forgotten rejections (restart)', world.forgottenRejections.length)
	count('cookies a failed server logout left', world.keptCookies.length)
	for (const line of world.log) {
		if (line.includes('killed')) count('worker kills')
		if (line.includes('handed over')) count('hand-overs')
		if (line.includes('broadcasts logout')) count(`logout broadcast ${line.split(' ')[4]}`)
		if (line.includes('is lost')) count('refresh answers lost')
		if (line.includes('next attempt at')) count(line.includes('resumed') ? 'backoff: resumed' : line.includes('Retry-After') ? 'backoff: after a Retry-After' : 'backoff: after a failure')
	}
	for (const op of world.ops) count(`op ${op.kind} → ${!op.settled ? 'pending' : op.error === undefined ? 'ok' : describeError(op.error).split(':')[0]}`)
	for (const op of world.ops) if (op.attempts.length === 2) count('requests retried')
}

async function runScenario(worldConfig: WorldConfig, scheduler: fc.Scheduler, commands: Iterable<Command>): Promise<void> {
	vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
	// invalid_client is logged as a configuration error by design; the run's log says when.
	const consoleError = vi.spyOn(console, 'error').mockImplementation(() => undefined)
	const world = new World(worldConfig, scheduler)
	try {
		// Every run starts signed in, with every tab holding the token.
		world.login(world.tabs[0]!)
		await world.drain()
		assertClean(world, 'after the initial login')

		await fc.asyncModelRun(() => ({ model: { world }, real: world }), commands)

		// Invariant 1: once everything is delivered and every timer has fired, nothing hangs.
		await world.drain()
		world.checkQuiescent()
		assertClean(world, 'at rest')

		// Liveness: the auth server heals; requests made now join the broker's next attempt, due
		// within 5 s (spec 6), so every tab's requests either work or say the session is over. Only
		// a Retry-After (up to 60 s) may hold the attempt back longer than a request waits (10 s):
		// the probe starts once what remains of it is under 5 s. (The first request of a tab that
		// holds no token may get the broker's token, expired meanwhile, and its 401 by spec 4:
		// judge the second.)
		world.server.mode = 'ok'
		world.advance(Math.max(0, world.current.nextAttemptAt - world.now - 5_000))
		for (const tab of world.tabs) {
			world.request(tab, false)
			await world.drain()
			const probe = world.request(tab, false)
			await world.drain()
			if (probe.error !== undefined && !(probe.error instanceof LoggedOutError)) {
				world.violation(`probe op ${probe.id} in tab ${tab.id} failed with ${describeError(probe.error)} although the auth server is healthy`)
			}
		}
		world.checkQuiescent()
		assertClean(world, 'in the final probe')
		if (process.env.FC_STATS) collect(world, [...commands].length)
	} finally {
		for (const tab of world.tabs) tab.session.close()
		consoleError.mockRestore()
		vi.useRealTimers()
	}
}

describe('broker core model (fast-check)', () => {
	it(
		'keeps its invariants under random interleavings of requests, 401s, expiries, refresh outcomes, login, logout and worker restarts',
		async () => {
			await fc.assert(fc.asyncProperty(config, fc.scheduler(), fc.commands([command], commandOptions(MAX_COMMANDS)), runScenario), assertOptions(1_000))
			if (process.env.FC_STATS)
				console.log(
					[...stats]
						.sort(([a], [b]) => a.localeCompare(b))
						.map(([key, value]) => `${key}: ${value}`)
						.join('\n'),
				)
		},
		Math.max(120_000, (envNumber('FC_RUNS') ?? 0) * 100),
	)
})
