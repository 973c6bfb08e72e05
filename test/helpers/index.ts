// The test harness: fixture servers, SDK clients in either era, gateways started in this process,
// raw wire helpers and processes.
// (The vitest feature checklist lives in ./feature-suite.js, imported only by test files.)
export * from './client.js';
export * from './fixture.js';
export * from './gateway.js';
export * from './processes.js';
export * from './wire.js';
