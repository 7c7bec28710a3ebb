export * from './logger.ts';
export * from './span-buffer.ts';
export * from './telemetry.ts';
export * from './sampler.ts';
export * from './bound-histograms.ts';
