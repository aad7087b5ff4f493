import { randomBytes, randomUUID } from 'node:crypto'
import { signJwt, verifyJwt } from './jwt.js'
import type { AccessClaims } from './jwt.js'

export interface TokenSet {
	accessToken: string
	/** Seconds, possibly fractional. */
	expiresIn: number
	refreshToken: string
	/** Set when the session is DPoP-bound: the key's thumbprint, in the access token's cnf.jkt too. */
	jkt?: string
}

export type RefreshOutcome = { kind: 'ok'; tokens: TokenSet } | { kind: 'invalid' } | { kind: 'reuse' }

interface RefreshRecord {
	sid: string
	used: boolean
}

const SUBJECT = 'demo'

/** Sessions with rotating refresh-token families and HS256 access tokens. */
export class TokenStore {
	private readonly secret = randomBytes(32)
	private readonly revokedBySid = new Map<string, boolean>()
	/** Insertion-ordered, so it doubles as the issue log. */
	private readonly refreshTokens = new Map<string, RefreshRecord>()
	/** Access tokens issued since the last expireAccessTokens(); a set rather than a timestamp avoids same-ms ambiguity. */
	private readonly liveAccessIds = new Set<string>()
	/** Sessions bound to a DPoP key (RFC 9449 §5): their refresh tokens work only with a proof of that key. */
	private readonly jktBySid = new Map<string, string>()

	constructor(public accessTtlMs: number) {}

	login(jkt?: string): TokenSet {
		const sid = randomUUID()
		this.revokedBySid.set(sid, false)
		if (jkt !== undefined) this.jktBySid.set(sid, jkt)
		return this.issue(sid)
	}

	/** `jkt`: the key the refresh request proved possession of, if any. A bound token needs that very key. */
	refresh(refreshToken: string, jkt?: string): RefreshOutcome {
		const record = this.refreshTokens.get(refreshToken)
		if (!record || !this.isLive(record.sid)) return { kind: 'invalid' }
		// A copied token redeemed elsewhere is refused without consuming it: the device that holds the key still can.
		if (this.jktBySid.get(record.sid) !== jkt) return { kind: 'invalid' }
		if (record.used) {
			// A rotated token showing up again means it leaked: kill the whole family.
			this.revokeSession(record.sid)
			return { kind: 'reuse' }
		}
		record.used = true
		return { kind: 'ok', tokens: this.issue(record.sid) }
	}

	/** Returns true when a live session was revoked. */
	revokeByRefreshToken(refreshToken: string): boolean {
		const record = this.refreshTokens.get(refreshToken)
		return record !== undefined && this.revokeSession(record.sid)
	}

	/** Returns the number of live sessions revoked. */
	revokeAll(): number {
		let revoked = 0
		for (const sid of this.revokedBySid.keys()) if (this.revokeSession(sid)) revoked++
		return revoked
	}

	expireAccessTokens(): void {
		this.liveAccessIds.clear()
	}

	verifyAccessToken(token: string): AccessClaims | undefined {
		const claims = verifyJwt(token, this.secret)
		if (!claims || Date.now() >= claims.exp_ms) return undefined
		if (!this.liveAccessIds.has(claims.jti) || !this.isLive(claims.sid)) return undefined
		return claims
	}

	issuedRefreshTokens(): string[] {
		return [...this.refreshTokens.keys()]
	}

	private issue(sid: string): TokenSet {
		const now = Date.now()
		const expMs = now + this.accessTtlMs
		const jti = randomUUID()
		const jkt = this.jktBySid.get(sid)
		const claims: AccessClaims = { sub: SUBJECT, sid, jti, iat: Math.floor(now / 1000), exp: expMs / 1000, exp_ms: expMs, ...(jkt === undefined ? {} : { cnf: { jkt } }) }
		this.liveAccessIds.add(jti)
		const refreshToken = `rt_${randomBytes(32).toString('base64url')}`
		this.refreshTokens.set(refreshToken, { sid, used: false })
		return { accessToken: signJwt(claims, this.secret), expiresIn: this.accessTtlMs / 1000, refreshToken, ...(jkt === undefined ? {} : { jkt }) }
	}

	private revokeSession(sid: string): boolean {
		if (!this.isLive(sid)) return false
		this.revokedBySid.set(sid, true)
		return true
	}

	private isLive(sid: string): boolean {
		return this.revokedBySid.get(sid) === false
	}
}
