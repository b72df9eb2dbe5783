export { athleteSync } from './athlete-sync.js';
