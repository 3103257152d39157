// What both entry points (index.ts for Node, web.ts for browsers) export besides their own
// loadPolicy and provider: the Policy API, its types and the metadata reader.
export { Policy, PolicyController, BACKENDS, createPolicy } from './policy.js';
export type {
  Backend,
  FallbackBackend,
  FallbackReport,
  LoadOptions,
  ModelSource,
  OrtModule,
  OrtProvider,
  OrtSession,
  OrtTensor,
  Sha256Digests,
} from './policy.js';
export { SUPPORTED_FORMAT_VERSION, parsePolicyInfo, readOnnxMetadata, readPolicyInfo } from './metadata.js';
export type { AgentName, PolicyInfo, PolicyRole } from './metadata.js';
