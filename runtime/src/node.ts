// `@hiql/runtime/node`: the Node entry under an explicit name (same as the package root in Node).
export * from './index.js';
