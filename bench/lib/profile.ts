// Summarize a V8 CPU profile (`node --cpu-prof`): where the time of one kadeploy run went.
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Functions whose inclusive time tells the phases of an apply/diff/verify run apart. */
export const PHASES: Array<[label: string, fn: string]> = [
  ['load + validate inventory', 'loadFleet'],
  ['render templates (desiredFor)', 'desiredFor'],
  ['known_hosts read + parse', 'loadKnownHosts'],
  ['host key check', 'verifyHostKey'],
  ['SSH handshake (JS side)', 'handshake'],
  ['node locks', 'acquireLocks'],
  ['facts (send + parse)', 'gatherFacts'],
  ['plan', 'buildPlan'],
  ['print plan', 'formatPlan'],
  ['execute (listr2)', 'executePlan'],
  ['verify checks', 'runChecks'],
];

const short = (url: string): string => url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/dist\//, 'dist/');

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  gcMs: number;
  /** Samples under the ES module loader (resolving, reading, compiling, evaluating imports). */
  moduleLoadingMs: number;
  /** Per phase: CPU (inclusive samples) and the wall-clock span from its first to its last sample. */
  phases: Array<{ label: string; fn: string; ms: number; fromMs: number; toMs: number }>;
  topSelf: Array<{ where: string; ms: number }>;
}

export function summarizeProfile(file: string, top = 12): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    total += dt;
  });
  // Wall-clock span of each phase: first and last sample whose stack holds it.
  const stackNames = new Map<number, Set<string>>();
  const namesOf = (id: number): Set<string> => {
    let names = stackNames.get(id);
    if (!names) {
      names = new Set();
      for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
        const f = byId.get(x)!.callFrame;
        if (f.url.includes('/dist/')) names.add(f.functionName);
      }
      stackNames.set(id, names);
    }
    return names;
  };
  const span = new Map<string, { from: number; to: number }>();
  let clock = 0;
  p.samples.forEach((id, i) => {
    clock += p.timeDeltas[i] ?? 0;
    for (const n of namesOf(id)) {
      const s = span.get(n);
      if (s) s.to = clock;
      else span.set(n, { from: clock, to: clock });
    }
  });
  const inclusive = new Map<string, number>();
  let moduleLoading = 0;
  for (const [id, us] of selfUs) {
    const names = new Set<string>();
    let loading = false;
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const f = byId.get(x)!.callFrame;
      // Phases are kadeploy's own functions (dist/), not same-named ones in dependencies.
      if (f.url.includes('/dist/')) names.add(f.functionName);
      // Evaluating a module's top level shows as an anonymous frame of that module under the loader.
      if (/^node:internal\/modules\/(esm|cjs)\//.test(f.url)) loading = true;
    }
    for (const n of names) inclusive.set(n, (inclusive.get(n) ?? 0) + us);
    if (loading) moduleLoading += us;
  }
  const self = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    const where = f.url ? `${f.functionName || '(anonymous)'} ${short(f.url)}:${f.lineNumber + 1}` : f.functionName;
    self.set(where, (self.get(where) ?? 0) + us);
  }
  const ms = (us: number) => us / 1000;
  return {
    totalMs: ms(total),
    idleMs: ms(self.get('(idle)') ?? 0),
    gcMs: ms(self.get('(garbage collector)') ?? 0),
    moduleLoadingMs: ms(moduleLoading),
    phases: PHASES.map(([label, fn]) => ({ label, fn, ms: ms(inclusive.get(fn) ?? 0), fromMs: ms(span.get(fn)?.from ?? 0), toMs: ms(span.get(fn)?.to ?? 0) })),
    topSelf: [...self]
      .filter(([w]) => w !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([where, us]) => ({ where, ms: ms(us) })),
  };
}

export function formatProfile(s: ProfileSummary): string {
  const f = (x: number) => `${x.toFixed(0).padStart(6)} ms`;
  const lines = [
    // V8 samples the main thread by wall clock: on a busy machine, time the thread spent preempted
    // (inside a syscall such as a socket write, or between two statements) lands on whatever ran.
    `  sampled ${f(s.totalMs)} (wall-clock samples; idle = waiting on SSH and remote commands ${f(s.idleMs)}; GC ${f(s.gcMs)})`,
    `  module loading (imports at start-up)      ${f(s.moduleLoadingMs)}`,
    '  phase (kadeploy function)                samples   wall span (from profile start)',
    ...s.phases.filter((p) => p.ms >= 1).map((p) => `  ${`${p.label} [${p.fn}]`.padEnd(41)} ${f(p.ms)}   ${p.fromMs.toFixed(0).padStart(5)} → ${p.toMs.toFixed(0).padStart(5)} ms`),
    '  top self time:',
    ...s.topSelf.map((t) => `    ${f(t.ms)}  ${t.where}`),
  ];
  return `${lines.join('\n')}\n`;
}
