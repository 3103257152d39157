// Policy metadata: read ONNX metadata_props straight from the protobuf wire format (without decoding
// the graph) and check them into a typed PolicyInfo. No dependency: this file runs anywhere.
//
// ModelProto fields used: 7 graph (only its presence), 14 metadata_props (repeated
// StringStringEntryProto: 1 key, 2 value). Every other field is skipped by its wire type.

/** The newest policy format this runtime reads (`hiql.format_version`). */
export const SUPPORTED_FORMAT_VERSION = 1;

export type PolicyRole = 'policy' | 'low_policy' | 'goal_rep';
export type AgentName = 'hiql' | 'gcivl' | 'gcbc' | 'gciql' | 'crl' | 'qrl';

export interface PolicyInfo {
  /** `hiql.format_version`. */
  formatVersion: number;
  /** What this file computes: the policy, HIQL's low level on a held subgoal, or phi. */
  role: PolicyRole;
  agent: AgentName;
  /** True for HIQL (subgoal latent and companions), false for flat agents. */
  hierarchical: boolean;
  env: string;
  /** 'state' (float32 vectors) or 'pixels' (uint8 frames, see obsShape). */
  observationType: string;
  /** Numbers per observation and per goal (for pixels: height * width * channels). */
  obsDim: number;
  /** Per-row shape of observations and goals: [obsDim] for states, [H, W, C] for pixels. */
  obsShape: number[];
  /** Element type of observations and goals: float32 states or uint8 frames. */
  obsDtype: 'float32' | 'uint8';
  goalDim: number;
  actionDim: number;
  actionLow: number;
  actionHigh: number;
  /** Size of the subgoal latent (HIQL only, else null). */
  repDim: number | null;
  /** k of training: the subgoal is the state k steps ahead (HIQL only, else null). */
  subgoalSteps: number | null;
  /** Companion files beside the policy (HIQL policy only; empty otherwise). */
  companions: { low_policy?: string; goal_rep?: string };
  trainSteps: number;
  preset: string;
  /** The agent config the policy was trained with. */
  config: Record<string, unknown>;
  configHash: string;
  producerVersion: string;
  /** Every metadata_props entry, as written. */
  metadata: Readonly<Record<string, string>>;
}

const ROLES: readonly PolicyRole[] = ['policy', 'low_policy', 'goal_rep'];
const AGENTS: readonly AgentName[] = ['hiql', 'gcivl', 'gcbc', 'gciql', 'crl', 'qrl'];

export const describe = (source: string) => (source ? `'${source}'` : 'the model');

/** A cursor over protobuf wire-format bytes [start, end) (shared with external-data.ts). */
export class Reader {
  pos: number;
  constructor(
    readonly b: Uint8Array,
    start: number,
    readonly end: number,
    readonly where: string,
  ) {
    this.pos = start;
  }
  fail(what: string): never {
    throw new Error(`${this.where} is not a readable ONNX model (truncated or corrupt?): ${what} at byte ${this.pos}`);
  }
  varint(): number {
    // Values above 2^53 lose precision; they only occur in fields we skip or as absurd lengths.
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('varint runs past the end');
      const byte = this.b[this.pos++]!;
      result += (byte & 0x7f) * mul;
      if ((byte & 0x80) === 0) return result;
      mul *= 128;
    }
    this.fail('varint longer than 10 bytes');
  }
  /** Returns [start, end) of a length-delimited field's payload and moves past it. */
  bytes(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (len > this.end - start) this.fail(`field of ${len} bytes with only ${this.end - start} left`);
    this.pos = start + len;
    return [start, this.pos];
  }
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        if (this.end - this.pos < 8) this.fail('fixed64 runs past the end');
        this.pos += 8;
        return;
      case 2:
        this.bytes();
        return;
      case 5:
        if (this.end - this.pos < 4) this.fail('fixed32 runs past the end');
        this.pos += 4;
        return;
      default:
        // 3/4 are deprecated groups (never written by ONNX); 6/7 do not exist.
        this.fail(`unsupported wire type ${wireType}`);
    }
  }
}

export const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The metadata_props of an ONNX model, read from the protobuf wire format without decoding the graph.
 * Throws an Error on bytes that are not a well-formed ModelProto (truncated, garbage, no graph).
 */
export function readOnnxMetadata(bytes: Uint8Array, source = ''): Record<string, string> {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`readOnnxMetadata: expected a Uint8Array, got ${typeName(bytes)}`);
  const where = describe(source);
  if (bytes.length === 0) throw new Error(`${where} is not an ONNX model: it is empty`);
  const r = new Reader(bytes, 0, bytes.length, where);
  const meta: Record<string, string> = {};
  let hasGraph = false;
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) r.fail('field number 0');
    if (field === 7 && wire === 2) {
      r.bytes();
      hasGraph = true;
    } else if (field === 14 && wire === 2) {
      const [s, e] = r.bytes();
      const entry = new Reader(bytes, s, e, where);
      let key = '';
      let value = '';
      while (entry.pos < entry.end) {
        const t = entry.varint();
        const f = Math.floor(t / 8);
        const w = t & 7;
        if ((f === 1 || f === 2) && w === 2) {
          const [a, z] = entry.bytes();
          let text = '';
          try {
            text = utf8.decode(bytes.subarray(a, z));
          } catch {
            entry.fail('metadata string that is not UTF-8');
          }
          if (f === 1) key = text;
          else value = text;
        } else {
          if (f === 0) entry.fail('field number 0');
          entry.skip(w);
        }
      }
      meta[key] = value;
    } else {
      r.skip(wire);
    }
  }
  if (!hasGraph) throw new Error(`${where} is not an ONNX model: it has no graph (field 7 of ModelProto)`);
  return meta;
}

function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'an object';
  return typeof x;
}

/**
 * Checks the `hiql.*` metadata of a model into a PolicyInfo. Throws an Error if the model is not a
 * policy of this project, has a newer format than this runtime reads, or has missing/invalid keys.
 */
export function parsePolicyInfo(meta: Readonly<Record<string, string>>, source = ''): PolicyInfo {
  const where = describe(source);
  const fv = meta['hiql.format_version'];
  if (fv === undefined) {
    throw new Error(
      `${where} is not a HIQL policy of this project: its ONNX metadata has no 'hiql.format_version' ` +
        "(policies are written by 'hiql export')",
    );
  }
  if (!/^\d+$/.test(fv)) throw new Error(`${where}: 'hiql.format_version' must be a positive integer, got '${fv}'`);
  const formatVersion = Number(fv);
  if (formatVersion > SUPPORTED_FORMAT_VERSION) {
    throw new Error(
      `${where} has policy format version ${formatVersion}, newer than this runtime supports (${SUPPORTED_FORMAT_VERSION}); ` +
        `upgrade @hiql/runtime to a release that reads format ${formatVersion}, or re-export the policy with a matching 'hiql export'`,
    );
  }
  if (formatVersion < 1) throw new Error(`${where}: 'hiql.format_version' ${formatVersion} is not a valid format version`);
  const bad = (key: string, expected: string): never => {
    const v = meta[key];
    throw new Error(`${where}: metadata '${key}' ${v === undefined ? 'is missing' : `is '${v}'`}; expected ${expected}`);
  };
  const str = (key: string): string => {
    const v = meta[key];
    if (v === undefined || v === '') return bad(key, 'a non-empty string');
    return v;
  };
  const int = (key: string, min: number): number => {
    const v = meta[key];
    if (v === undefined || !/^\d+$/.test(v) || Number(v) < min) return bad(key, `an integer >= ${min}`);
    return Number(v);
  };
  const num = (key: string): number => {
    const v = meta[key];
    const n = v === undefined || v.trim() === '' ? NaN : Number(v);
    if (!Number.isFinite(n)) return bad(key, 'a finite number');
    return n;
  };
  const json = (key: string): Record<string, unknown> => {
    const v = meta[key];
    let o: unknown;
    try {
      o = v === undefined ? undefined : JSON.parse(v);
    } catch {
      o = undefined;
    }
    if (!o || typeof o !== 'object' || Array.isArray(o)) return bad(key, 'a JSON object');
    return o as Record<string, unknown>;
  };

  const role = str('hiql.role') as PolicyRole;
  if (!ROLES.includes(role)) bad('hiql.role', ROLES.join(' | '));
  const agent = str('hiql.agent') as AgentName;
  if (!AGENTS.includes(agent)) bad('hiql.agent', AGENTS.join(' | '));
  const hierarchical = agent === 'hiql';
  const actionLow = num('hiql.action_low');
  const actionHigh = num('hiql.action_high');
  if (!(actionLow < actionHigh)) throw new Error(`${where}: action bounds [${actionLow}, ${actionHigh}] are empty`);
  const companions: PolicyInfo['companions'] = {};
  if (hierarchical && role === 'policy') {
    const c = json('hiql.companions');
    for (const k of ['low_policy', 'goal_rep'] as const) {
      const f = c[k];
      if (f === undefined) continue;
      if (typeof f !== 'string' || f === '' || /[\\/]/.test(f) || f === '.' || f === '..')
        bad('hiql.companions', `file names without a path (${k}: '${String(f)}')`);
      companions[k] = f as string;
    }
  }
  const obsDim = int('hiql.obs_dim', 1);
  const obsDtype = (meta['hiql.obs_dtype'] ?? 'float32') as PolicyInfo['obsDtype'];
  if (obsDtype !== 'float32' && obsDtype !== 'uint8') bad('hiql.obs_dtype', 'float32 | uint8');
  let obsShape = [obsDim];
  if (meta['hiql.obs_shape'] !== undefined) {
    let sh: unknown;
    try {
      sh = JSON.parse(meta['hiql.obs_shape']);
    } catch {
      sh = undefined;
    }
    if (
      !Array.isArray(sh) ||
      sh.length === 0 ||
      !sh.every((d) => Number.isInteger(d) && d > 0) ||
      sh.reduce((a: number, b: number) => a * b, 1) !== obsDim
    ) {
      bad('hiql.obs_shape', `a JSON list of positive integers whose product is hiql.obs_dim (${obsDim})`);
    }
    obsShape = sh as number[];
  }
  return {
    formatVersion,
    role,
    agent,
    hierarchical,
    env: str('hiql.env'),
    observationType: meta['hiql.observation_type'] ?? 'state',
    obsDim,
    obsShape,
    obsDtype,
    goalDim: int('hiql.goal_dim', 1),
    actionDim: int('hiql.action_dim', 1),
    actionLow,
    actionHigh,
    repDim: hierarchical ? int('hiql.rep_dim', 1) : null,
    subgoalSteps: hierarchical ? int('hiql.subgoal_steps', 1) : null,
    companions,
    trainSteps: meta['hiql.train_steps'] === undefined ? 0 : int('hiql.train_steps', 0),
    preset: meta['hiql.preset'] ?? '',
    config: meta['hiql.config'] === undefined ? {} : json('hiql.config'),
    configHash: meta['hiql.config_hash'] ?? '',
    producerVersion: meta['hiql.producer_version'] ?? '',
    metadata: Object.freeze({ ...meta }),
  };
}

/** readOnnxMetadata then parsePolicyInfo. */
export function readPolicyInfo(bytes: Uint8Array, source = ''): PolicyInfo {
  return parsePolicyInfo(readOnnxMetadata(bytes, source), source);
}
