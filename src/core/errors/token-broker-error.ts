/** Base class of every error this library throws, so apps can catch them as one family. */
export abstract class TokenBrokerError extends Error {
	abstract override readonly name: string
}
