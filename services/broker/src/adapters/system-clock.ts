export { systemClock } from '#libs/clock/index.ts';
