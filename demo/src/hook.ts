// The test hook the page puts on `window.__demo` (used by test/demo/demo.test.ts; handy from the
// browser console too).
import type { Manifest } from '../manifest.ts';

export interface RunEpisodeOptions {
  /** Maze whose first policy runs (the user's, if any, else the first shipped one)... */
  maze: string;
  /** ...or this policy (a manifest id: NAME, or user/NAME for the user's), whose maze it is. */
  model?: string;
  /** Evaluation task 1..5 (default 1). */
  task?: number;
  /** Seed of the reset noise (default 0). */
  seed?: number;
  /** Stop (paused) after this many steps, leaving the episode on screen. */
  stopAfter?: number;
}

export interface RunEpisodeResult {
  maze: string;
  model: string;
  /** Manifest id of the policy. */
  id: string;
  task: number;
  seed: number;
  success: boolean;
  steps: number;
  done: boolean;
  backend: string;
  /** Policy-call times of the episode in ms. */
  meanMs: number;
  medianMs: number;
  /** Whether a subgoal position is on screen at the end. */
  subgoalShown: boolean;
}

export interface DemoState {
  maze: string;
  model: string | null;
  backend: string | null;
  steps: number;
  status: string;
  playing: boolean;
  goal: [number, number];
  position: [number, number];
}

export interface DemoHook {
  /** Resolves once the manifest is read and the first policy (if any) is loaded. */
  ready: Promise<{ models: string[] }>;
  manifest: () => Manifest;
  /** Runs an episode as fast as the policy allows (no animation) and draws its end state. */
  runEpisode: (o: RunEpisodeOptions) => Promise<RunEpisodeResult>;
  /** One uncached batched phi call over every candidate at the ball's position. */
  timeSubgoalSearch: () => Promise<{ candidates: number; ms: number }>;
  state: () => DemoState;
  /** Page (client) coordinates of the centre of the free cell farthest from the ball. */
  freeCellOnScreen: () => { x: number; y: number; world: [number, number] };
  pause: () => void;
}

declare global {
  interface Window {
    __demo: DemoHook;
  }
}
