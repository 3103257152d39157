// The agents by name. Each file owns its algorithm (config, batch, losses, target update, policy);
// this table is how the trainer, export and the CLI find them.
import type { BatchSpec } from '../batch.ts';
import type { AgentDef } from './agent.ts';
import { CRL, type CrlConfig } from './crl.ts';
import { GCBC, type GcbcConfig } from './gcbc.ts';
import { GCIQL, type GciqlConfig } from './gciql.ts';
import { GCIVL, type GcivlConfig } from './gcivl.ts';
import { HIQL, type HiqlConfig } from './hiql.ts';
import { QRL, type QrlConfig } from './qrl.ts';

export type { AgentDef, TargetUpdate } from './agent.ts';

export type AgentName = 'hiql' | 'gcivl' | 'gcbc' | 'gciql' | 'crl' | 'qrl';
export const AGENT_NAMES: readonly AgentName[] = ['hiql', 'gcivl', 'gcbc', 'gciql', 'crl', 'qrl'];

export type AgentConfig = HiqlConfig | GcivlConfig | GcbcConfig | GciqlConfig | CrlConfig | QrlConfig;

/**
 * An agent as code that serves every agent sees it: config and batch in their shared shapes
 * (methods are compared bivariantly, so each agent's own definition fits without a cast);
 * `resolveConfig` (train/config.ts) guarantees that a config handed to an agent is that agent's.
 */
export type Agent = AgentDef<AgentConfig, BatchSpec>;

export const AGENTS: Record<AgentName, Agent> = { hiql: HIQL, gcivl: GCIVL, gcbc: GCBC, gciql: GCIQL, crl: CRL, qrl: QRL };
