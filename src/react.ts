export { useAuth, AuthGate, type AuthGateProps } from './frameworks/react.js'
