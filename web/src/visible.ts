// The dashboard shows what an agent sent and what an upstream named by the gateway's own rule:
// characters that hide or reorder text written as \uXXXX (src/util/visible.ts).
export { visibleJson, visibleText } from '../../src/util/visible.js';
