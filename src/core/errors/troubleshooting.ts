/**
 * Production builds (bundlers replace `process.env.NODE_ENV`, as for React, Vue and TanStack)
 * keep an error's class and a short message, and drop the long advice for a link to where
 * the same advice is written: docs/troubleshooting.md has a section per error class.
 */
export const troubleshooting = (name: string): string => `see docs/troubleshooting.md#${name.toLowerCase()}`
