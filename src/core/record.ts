/** A plain object's fields, or undefined for anything else (arrays, strings, null): how untrusted input is first read. */
export function asRecord(value: unknown): Record<string, unknown> | undefined {
	return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
}
