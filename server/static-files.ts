import { readFile, stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { basename, extname, isAbsolute, relative, resolve, sep } from 'node:path'
import { badRequest } from './http-util.js'

const CONTENT_TYPES: Record<string, string> = {
	'.html': 'text/html; charset=utf-8',
	'.js': 'text/javascript; charset=utf-8',
	'.mjs': 'text/javascript; charset=utf-8',
	'.css': 'text/css; charset=utf-8',
	'.json': 'application/json; charset=utf-8',
	'.webmanifest': 'application/manifest+json',
	'.png': 'image/png',
	'.svg': 'image/svg+xml',
	'.ico': 'image/x-icon',
	'.txt': 'text/plain; charset=utf-8',
	'.map': 'application/json; charset=utf-8',
}

/** Serves a file below root; returns false when there is none for this path. */
export async function serveStatic(req: IncomingMessage, res: ServerResponse, root: string, pathname: string): Promise<boolean> {
	const file = await findFile(resolve(root), decodePath(pathname))
	if (!file) return false
	const content = await readFile(file)
	res.writeHead(200, {
		'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
		'Content-Length': content.length,
		'Cache-Control': 'no-cache',
		...(basename(file) === 'sw.js' ? { 'Service-Worker-Allowed': '/' } : {}),
	})
	res.end(req.method === 'HEAD' ? undefined : content)
	return true
}

function decodePath(pathname: string): string {
	let decoded: string
	try {
		decoded = decodeURIComponent(pathname)
	} catch {
		throw badRequest('malformed path')
	}
	if (decoded.includes('\0')) throw badRequest('malformed path')
	return decoded.endsWith('/') ? `${decoded}index.html` : decoded
}

async function findFile(root: string, path: string): Promise<string | undefined> {
	const target = resolve(root, `.${path}`)
	if (!isInside(root, target)) return undefined
	if (await isFile(target)) return target
	// Extensionless routes such as /login map to login.html.
	if (extname(target) === '' && (await isFile(`${target}.html`))) return `${target}.html`
	return undefined
}

function isInside(root: string, target: string): boolean {
	const rel = relative(root, target)
	return rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel)
}

async function isFile(path: string): Promise<boolean> {
	try {
		return (await stat(path)).isFile()
	} catch {
		return false
	}
}
