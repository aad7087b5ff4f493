/**
 * Base class of every error this library throws, so apps can catch them as one family.
 * Subclasses `declare` the fields their constructor sets: a plain field declaration would be
 * emitted as a second, empty definition of each in every bundle.
 */
export abstract class TokenBrokerError extends Error {
	abstract override readonly name: string
}
