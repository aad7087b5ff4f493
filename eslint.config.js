// The config lives in tools/, beside the TypeScript 5.9 that typescript-eslint needs.
export { default } from './tools/eslint.config.js'
