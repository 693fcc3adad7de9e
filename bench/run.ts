// kadeploy benchmarks (issue 7): kadeploy against Ansible on the same lab, then how kadeploy's cost
// grows with the number of hosts. Prints figures; it is not a test. Run as root: `npm run bench`.
// See bench/README.md for what is measured and how. Knobs (environment):
//   BENCH_RUNS=5          timed runs of no-op, dry-run and verify per tool on the first lab size (2 nodes)
//   BENCH_DEPLOY_RUNS=3   timed first deploys per tool on the first lab size (each on a fresh lab)
//   BENCH_OTHER_RUNS=2    both of the above on the other lab sizes (3 nodes)
//   BENCH_LAB_NODES=2,3   lab sizes;               BENCH_SKIP_LAB=1   skip the lab part
//   BENCH_SCALE=10,50,100,200  host counts (fleets of N/2 clusters × 2 nodes);
//   BENCH_SCALE_LAYOUT=fleet   fleet, cluster (one cluster of N, the layout before fleets), or both: fleet,cluster
//   BENCH_SKIP_SCALE=1    skip the scale part
//   BENCH_SCALE_RUNS=3    timed runs per operation and host count
//   BENCH_SCALE_FORKS=    kadeploy --forks for the scale runs (default: N, every host at once)
//   BENCH_SCALE_ANSIBLE=  host counts at which Ansible runs the scale no-op too (e.g. 10; default none)
//   BENCH_FORKS_SWEEP=10  other kadeploy --forks values timed at 100 hosts ('' for none)
//   BENCH_PROFILE=1       when a target is missed, profile one run with node --cpu-prof
//   BENCH_CLI=path        the kadeploy CLI to time (default: dist/cli/main.js of this tree)
//   BENCH_STARTUP_RUNS=10 interleaved runs of `node -e 0` and `kadeploy validate` with and without its compile cache (start-up); BENCH_SKIP_STARTUP=1 skips them
//   BENCH_DRILLS=10       failover drills per profile (default, failover: fast) on the 2-node lab; 0 skips them
//   BENCH_QUICK=1         fewer runs (about half the time): 3 / 1 / 1 runs, scale runs 2, no forks sweep
import { cpus, loadavg, tmpdir } from 'node:os';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Ansible, ensureHostTools, parseRecap, writeAnsibleInventory } from './lib/ansible.js';
import { cleanupLeftovers, FLEET_DIR, prepareFleetKeys, scaleInventory, startFleet, type Fleet, type ScaleLayout } from './lib/fleet.js';
import { benchLabDown, freshLab, type BenchLab } from './lib/lab.js';
import { measure, removeTimeDir, run, stopRunning, type Sample } from './lib/measure.js';
import { formatProfile, summarizeProfile } from './lib/profile.js';
import { cpu, peakPssMiB, peakRssMiB, summarize, table, triple, wall } from './lib/stats.js';
import { failoverBench, failoverTable, failoverVerdict, type FailoverFigures } from './lib/failover.js';
import { floorDeploy, type FloorSample } from './lib/floor.js';

const env = process.env;
const ROOT = join(import.meta.dirname, '..');
// BENCH_CLI: another build of kadeploy to time (e.g. a patched copy), same commands.
const CLI = env.BENCH_CLI ?? join(ROOT, 'dist', 'cli', 'main.js');
// What a user runs: the package's bin (the launcher, src/cli/kadeploy.sh) on this Node; with
// BENCH_CLI or a profile, node CLI as before (node flags need node on the command line).
const BIN = env.BENCH_CLI ? undefined : join(ROOT, 'dist', 'cli', 'kadeploy');
const BIN_PATH = `${dirname(process.execPath)}:${env.PATH ?? ''}`;
const SCALE_PLAYBOOK = join(import.meta.dirname, 'scale-playbook.yaml');
const PROFILE_DIR = '/tmp/kadeploy-bench-profiles';

const int = (v: string | undefined, d: number) => (v && Number.isInteger(Number(v)) && Number(v) > 0 ? Number(v) : d);
const list = (v: string | undefined, d: number[]) => (v === undefined ? d : v.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0));
const QUICK = env.BENCH_QUICK === '1';
const CFG = {
  runs: int(env.BENCH_RUNS, QUICK ? 3 : 5),
  deployRuns: int(env.BENCH_DEPLOY_RUNS, QUICK ? 1 : 3),
  otherRuns: int(env.BENCH_OTHER_RUNS, QUICK ? 1 : 2),
  labNodes: list(env.BENCH_LAB_NODES, [2, 3]),
  scale: list(env.BENCH_SCALE, [10, 50, 100, 200]).sort((a, b) => a - b),
  scaleRuns: int(env.BENCH_SCALE_RUNS, QUICK ? 2 : 3),
  scaleForks: env.BENCH_SCALE_FORKS ? int(env.BENCH_SCALE_FORKS, 10) : undefined,
  scaleLayouts: (env.BENCH_SCALE_LAYOUT ?? 'fleet').split(',').map((s) => s.trim()).filter((s): s is ScaleLayout => s === 'fleet' || s === 'cluster'),
  scaleAnsible: list(env.BENCH_SCALE_ANSIBLE, []),
  forksSweep: list(env.BENCH_FORKS_SWEEP, QUICK ? [] : [10]),
  skipLab: env.BENCH_SKIP_LAB === '1',
  skipScale: env.BENCH_SKIP_SCALE === '1',
  profile: env.BENCH_PROFILE !== '0',
  startupRuns: int(env.BENCH_STARTUP_RUNS, QUICK ? 5 : 10),
  skipStartup: env.BENCH_SKIP_STARTUP === '1',
  // 0 is a valid count here (skip the drills): int() would take it for unset.
  drills: env.BENCH_DRILLS === '0' ? 0 : int(env.BENCH_DRILLS, QUICK ? 3 : 10),
};

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const KADEPLOY_ENV = { ...process.env, NO_COLOR: '1' };

// ---------------------------------------------------------------- cleanup (also on Ctrl-C / failure)

const cleanups: Array<() => Promise<void>> = [];
let cleaning: Promise<void> | undefined;
function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (e) {
        log(`cleanup: ${(e as Error).message}`);
      }
    }
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping the running command, then cleaning up (bench lab, sshd hosts, ssh masters)`);
    void stopRunning()
      .then(() => cleanupAll())
      .then(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- helpers

function kadeploy(args: string[], extra: { cpuProf?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Sample> {
  const node = extra.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${extra.cpuProf}`] : [];
  if (BIN && !extra.cpuProf) return measure(BIN, args, { env: { ...KADEPLOY_ENV, PATH: BIN_PATH, ...extra.env }, timeoutMs: 900_000 });
  return measure(process.execPath, [...node, CLI, ...args], { env: { ...KADEPLOY_ENV, ...extra.env }, timeoutMs: 900_000 });
}

function expect(s: Sample, ok: (s: Sample) => boolean, what: string): Sample {
  if (!ok(s)) {
    const tail = (t: string) => t.trim().split('\n').slice(-15).join('\n    ');
    throw new Error(`${what}: unexpected result (exit ${s.code})\n  stdout:\n    ${tail(s.stdout)}\n  stderr:\n    ${tail(s.stderr)}`);
  }
  return s;
}

const exit0 = (s: Sample) => s.code === 0;
const recapOf = (s: Sample) => [...parseRecap(s.stdout).values()];
const ansibleOk = (changed: 'none' | 'some') => (s: Sample) => {
  const r = recapOf(s);
  return s.code === 0 && r.length > 0 && r.every((h) => h.failed === 0 && h.unreachable === 0) &&
    (changed === 'none' ? r.every((h) => h.changed === 0) : r.some((h) => h.changed > 0));
};

/** Busy share of all CPUs over `ms` (other engineers' work makes timings noisy: say so). */
async function busyShare(ms = 1000): Promise<number> {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + f[4]!;
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  return 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);
}

const mib = (x: number) => (x > 0 ? x.toFixed(0) : '-');

// ---------------------------------------------------------------- part 0: start-up

interface Startup {
  node: Sample[];
  validate: Sample[];
  /** validate without the compile cache (KADEPLOY_NO_COMPILE_CACHE=1): what a command's very first run costs. */
  uncached: Sample[];
  /** validate as `node dist/cli/main.js` (no launcher: NODE_EXTRA_CA_CERTS loaded, an ES module entry). */
  direct: Sample[];
}

/** `kadeploy validate` against `node -e 0`, interleaved run by run (no lab, no SSH). */
async function startupPart(): Promise<Startup> {
  const r: Startup = { node: [], validate: [], uncached: [], direct: [] };
  const inventory = join(ROOT, 'inventories', 'doc-two-nodes.yaml');
  log(`start-up: ${CFG.startupRuns} x node -e 0 and kadeploy validate with and without its compile cache (interleaved)`);
  // Untimed, like the lab part's warm-ups: writes the compile cache as a user's first run would.
  expect(await kadeploy(['validate', inventory]), exit0, 'kadeploy validate (warm-up)');
  for (let k = 0; k < CFG.startupRuns; k++) {
    r.node.push(expect(await measure(process.execPath, ['-e', '0']), exit0, 'node -e 0'));
    r.validate.push(expect(await kadeploy(['validate', inventory]), exit0, 'kadeploy validate'));
    r.uncached.push(expect(await kadeploy(['validate', inventory], { env: { KADEPLOY_NO_COMPILE_CACHE: '1' } }), exit0, 'kadeploy validate, no compile cache'));
    r.direct.push(expect(await measure(process.execPath, [CLI, 'validate', inventory], { env: KADEPLOY_ENV }), exit0, 'node dist/cli/main.js validate'));
  }
  return r;
}

// ---------------------------------------------------------------- part 1: the lab, kadeploy vs Ansible

interface OpResult {
  op: string;
  k?: Sample[];
  a?: Sample[];
  note?: string;
}

function renderDir(inventory: string, out: string): Promise<void> {
  return run(process.execPath, [CLI, 'render', inventory, '--out', out], { env: KADEPLOY_ENV }).then((r) => {
    if (r.code !== 0) throw new Error(`kadeploy render ${inventory} failed: ${r.stderr}`);
  });
}

/** What the verdicts need from the lab part. */
interface Found {
  noop2?: OpResult;
  dry2?: OpResult;
  /** verify --failover --repeat N on the 2-node lab, default profile and failover: fast. */
  drill?: FailoverFigures;
  /** The first deploy's floor on the first lab size (bench/lib/floor.ts), interleaved with the tools' first deploys. */
  floor?: FloorSample[];
}

async function labPart(work: string, results: OpResult[]): Promise<Found> {
  const ansible = new Ansible(join(work, 'ansible'));
  cleanups.push(() => ansible.closeMasters());
  cleanups.push(() => benchLabDown());
  const found: Found = {};

  for (const n of CFG.labNodes) {
    const first = n === CFG.labNodes[0];
    const deployRuns = first ? CFG.deployRuns : CFG.otherRuns;
    const runs = first ? CFG.runs : CFG.otherRuns;
    const dir = join(work, `lab${n}`);
    mkdirSync(dir, { recursive: true });
    const inv = (lab: BenchLab, renderTo: string) => {
      const file = join(dir, 'ansible-inventory.yaml');
      writeAnsibleInventory(file, {
        hosts: lab.nodes.map((h, i) => ({ name: h.name, ip: h.ip, vipHolder: i === 0 })),
        keyPath: lab.keyPath,
        knownHostsPath: lab.knownHostsPath,
        renderDir: renderTo,
        vip: lab.vip,
        aptProxy: lab.proxyUrl,
      });
      return file;
    };

    // First deploys: a fresh, identically prepared lab for every sample; tools alternate who goes first.
    // kadeploy's first deploy runs its preflight (network checks the Ansible playbook does not make):
    // timed as shipped, and with --skip-preflight for the like-for-like comparison.
    const kDeploy: Sample[] = [];
    const kBare: Sample[] = [];
    const aDeploy: Sample[] = [];
    // The floor (update + install by hand, start, the holder's election: bench/lib/floor.ts), on the first size.
    const floor: FloorSample[] = [];
    let lab: BenchLab | undefined;
    for (let i = 0; i < deployRuns; i++) {
      const tools = ['kadeploy', 'kadeploy --skip-preflight', 'ansible', ...(first ? ['floor'] : [])] as const;
      const order = i % 2 === 0 ? tools : [...tools].reverse();
      for (const tool of order) {
        lab = await freshLab(n);
        log(`${n} nodes, first deploy ${i + 1}/${deployRuns} with ${tool} (lab up ${lab.upSeconds.toFixed(1)} s, node prep ${lab.prepSeconds.toFixed(1)} s)`);
        if (tool === 'kadeploy') {
          kDeploy.push(expect(await kadeploy(['apply', lab.inventoryPath]), exit0, `kadeploy first deploy on ${n} nodes`));
        } else if (tool === 'kadeploy --skip-preflight') {
          kBare.push(expect(await kadeploy(['apply', lab.inventoryPath, '--skip-preflight']), exit0, `kadeploy first deploy --skip-preflight on ${n} nodes`));
        } else if (tool === 'floor') {
          const rendered = join(dir, 'render');
          rmSync(rendered, { recursive: true, force: true });
          await renderDir(lab.inventoryPath, rendered);
          floor.push(await floorDeploy(lab, rendered));
        } else {
          const rendered = join(dir, 'render');
          rmSync(rendered, { recursive: true, force: true });
          await renderDir(lab.inventoryPath, rendered);
          aDeploy.push(expect(await ansible.playbook('deploy.yaml', inv(lab, rendered), n), ansibleOk('some'), `ansible first deploy on ${n} nodes`));
          await ansible.closeMasters();
          if (i === 0) {
            // Same result: kadeploy finds nothing to change after Ansible's deploy (same bytes, mode, owner, unit state).
            expect(await kadeploy(['diff', lab.inventoryPath, '--detailed-exitcode']), exit0, 'kadeploy diff after the Ansible deploy (should be empty)');
          }
        }
      }
    }
    results.push({ op: `first deploy, ${n} nodes`, k: kDeploy, a: aDeploy, note: 'fresh lab each run; packages through the lab apt proxy (warm); kadeploy runs its preflight' });
    results.push({ op: `first deploy, ${n} nodes, --skip-preflight`, k: kBare, a: aDeploy, note: 'the same Ansible runs; kadeploy without its preflight, like the playbook' });
    if (floor.length) found.floor = floor;
    if (!lab) continue;

    // Steady state, on the last lab (both tools deployed the same bytes, checked above and below).
    const rendered = join(dir, 'render');
    rmSync(rendered, { recursive: true, force: true });
    await renderDir(lab.inventoryPath, rendered);
    const ansInv = inv(lab, rendered);
    // The dry-runs have one pending change: lb2's priority 140 → 145 (a diff on one node).
    const changed = join(dir, 'inventory-changed.yaml');
    const text = readFileSync(lab.inventoryPath, 'utf8');
    if (!text.includes('priority: 140')) throw new Error('lab inventory: lb2 priority 140 not found');
    writeFileSync(changed, text.replace('priority: 140', 'priority: 145'));
    const renderedChanged = join(dir, 'render-changed');
    rmSync(renderedChanged, { recursive: true, force: true });
    await renderDir(changed, renderedChanged);
    const ansInvChanged = join(dir, 'ansible-inventory-changed.yaml');
    writeFileSync(ansInvChanged, readFileSync(ansInv, 'utf8').replace(`render_dir: ${rendered}`, `render_dir: ${renderedChanged}`));

    // Warm-up (untimed), also the no-op checks: nothing to change for either tool.
    expect(await kadeploy(['apply', lab.inventoryPath, '--detailed-exitcode']), exit0, 'kadeploy no-op warm-up');
    expect(await ansible.playbook('deploy.yaml', ansInv, n), ansibleOk('none'), 'ansible no-op warm-up');
    await ansible.closeMasters();

    const k: Record<'noop' | 'dry' | 'verify', Sample[]> = { noop: [], dry: [], verify: [] };
    const a: Record<'noop' | 'dry' | 'verify' | 'warm', Sample[]> = { noop: [], dry: [], verify: [], warm: [] };
    log(`${n} nodes: ${runs} x no-op, dry-run, verify for each tool (interleaved)`);
    for (let r = 0; r < runs; r++) {
      k.noop.push(expect(await kadeploy(['apply', lab.inventoryPath, '--detailed-exitcode']), exit0, 'kadeploy no-op'));
      a.noop.push(expect(await ansible.playbook('deploy.yaml', ansInv, n), ansibleOk('none'), 'ansible no-op'));
      await ansible.closeMasters();
      k.dry.push(expect(await kadeploy(['apply', changed, '--dry-run', '--detailed-exitcode']), (s) => s.code === 2 && /priority 145/.test(s.stdout), 'kadeploy dry-run'));
      a.dry.push(expect(await ansible.playbook('deploy.yaml', ansInvChanged, n, ['--check', '--diff']), ansibleOk('some'), 'ansible --check --diff'));
      await ansible.closeMasters();
      k.verify.push(expect(await kadeploy(['verify', lab.inventoryPath]), exit0, 'kadeploy verify'));
      a.verify.push(expect(await ansible.playbook('verify.yaml', ansInv, n), ansibleOk('none'), 'ansible verify'));
      await ansible.closeMasters();
    }
    if (first) {
      // Ansible's best case: ssh ControlMasters kept from the previous run (ControlPersist=60s).
      expect(await ansible.playbook('deploy.yaml', ansInv, n), ansibleOk('none'), 'ansible warm-up');
      for (let r = 0; r < runs; r++) a.warm.push(expect(await ansible.playbook('deploy.yaml', ansInv, n), ansibleOk('none'), 'ansible no-op (warm)'));
      await ansible.closeMasters();
    }

    const noop = { op: `no-op re-apply, ${n} nodes`, k: k.noop, a: a.noop };
    const dry = { op: `dry-run (1 change), ${n} nodes`, k: k.dry, a: a.dry };
    // verify infers adverts from the nodes' states when they show them, else measures a window: say which.
    const inferred = k.verify.filter((s) => /VRRP adverts \S+\s+PASS\s+backup: BACKUP behind/.test(s.stdout)).length;
    results.push(noop, dry, { op: `verify, ${n} nodes`, k: k.verify, a: a.verify, note: `adverts inferred from states in ${inferred} of ${k.verify.length} runs, measured over a window in the others` });
    if (a.warm.length) results.push({ op: `no-op, ${n} nodes, Ansible ssh masters warm`, k: k.noop, a: a.warm, note: 'Ansible reusing ControlPersist connections' });
    if (n === 2) {
      found.noop2 = noop;
      found.dry2 = dry;
      if (CFG.drills > 0) {
        found.drill = await failoverBench((args) => kadeploy(args), lab.inventoryPath, dir, CFG.drills, (m) => log(`${n} nodes: ${m}`));
      }
      // Profile now, while this lab is up (it is torn down before the next size).
      if (CFG.profile) await profileLab(lab.inventoryPath, changed, noop, dry);
    }
    await benchLabDown();
  }
  return found;
}

const profiles: string[] = [];

async function profileRun(label: string, args: string[]): Promise<void> {
  const dir = join(PROFILE_DIR, label.replace(/[^a-z0-9]+/gi, '-'));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const s = await kadeploy(args, { cpuProf: dir });
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) {
    profiles.push(`${label}: no profile written (exit ${s.code})`);
    return;
  }
  profiles.push(`${label} (wall ${(s.wallMs / 1000).toFixed(2)} s, CPU ${(s.cpuMs / 1000).toFixed(2)} s; ${join(dir, file)}):\n${formatProfile(summarizeProfile(join(dir, file)))}`);
}

async function profileLab(inventory: string, changed: string, noop: OpResult, dry: OpResult): Promise<void> {
  const med = (s?: Sample[]) => (s ? wall(s).median : NaN);
  if (!(med(noop.a) / med(noop.k) >= 12)) await profileRun('no-op re-apply, 2 nodes', ['apply', inventory]);
  if (!(med(dry.a) / med(dry.k) >= 12)) await profileRun('dry-run, 2 nodes', ['apply', changed, '--dry-run']);
}

// ---------------------------------------------------------------- part 2: scale

interface ScaleRow {
  n: number;
  tool: 'kadeploy' | 'ansible';
  op: string;
  forks: number;
  samples: Sample[];
  /** CPU used by the loopback hosts (sshd, shells, fact commands) per run, seconds. */
  hostCpu: number[];
}

async function scalePart(work: string, rows: ScaleRow[]): Promise<void> {
  const maxN = Math.max(...CFG.scale, ...CFG.scaleAnsible.filter((n) => n <= Math.max(...CFG.scale)));
  await cleanupLeftovers();
  cleanups.push(() => cleanupLeftovers());
  log(`scale: ${maxN} loopback SSH hosts (keys, render, sshd)`);
  const { keyPath, knownHostsPath } = await prepareFleetKeys(maxN);
  const invFor = (n: number, layout: ScaleLayout = 'fleet') => {
    const file = join(FLEET_DIR, `inventory-${n}-${layout}.yaml`);
    writeFileSync(file, scaleInventory(n, keyPath, knownHostsPath, layout));
    return file;
  };
  // Each host's keepalived.conf for a layout, written into the directories bind-mounted on the hosts
  // (render --out writes new files only, with owner-only modes; the scale playbook says 0640).
  const rendered = join(FLEET_DIR, 'render');
  const renderLayout = async (layout: ScaleLayout) => {
    const out = join(FLEET_DIR, `render-${layout}`);
    await renderDir(invFor(maxN, layout), out);
    for (const host of readdirSync(out)) {
      const dir = join(rendered, host, 'etc', 'keepalived');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'keepalived.conf'), readFileSync(join(out, host, 'etc', 'keepalived', 'keepalived.conf')));
      chmodSync(join(dir, 'keepalived.conf'), 0o640);
    }
    rmSync(out, { recursive: true });
  };
  await renderLayout(CFG.scaleLayouts[0]!);
  const fleet: Fleet = await startFleet(maxN, (h) => join(rendered, h.name, 'etc', 'keepalived'), log);
  cleanups.push(() => fleet.stop());
  // The hosts' CPU of one run: read before and after (after its connections are gone: `settle`).
  const timed = async (fn: () => Promise<Sample>, settle?: () => Promise<void>): Promise<[Sample, number]> => {
    const before = await fleet.cpuSeconds();
    const s = await fn();
    await settle?.();
    return [s, (await fleet.cpuSeconds()) - before];
  };

  for (const layout of CFG.scaleLayouts) {
    if (layout !== CFG.scaleLayouts[0]) await renderLayout(layout);
    const label = layout === 'fleet' ? '' : ' (one cluster)';
    for (const n of CFG.scale) {
      const inv = invFor(n, layout);
      const forks = CFG.scaleForks ?? n;
      const args = (op: string[]) => [...op, inv, '--playbook', SCALE_PLAYBOOK, '--forks', String(forks), '--detailed-exitcode'];
      // Every cluster's plan says its nodes are up to date: n / 2 clusters of 2, or one of n.
      const [clusters, size] = layout === 'fleet' ? [n / 2, 2] : [1, n];
      const noopOk = (s: Sample) => s.code === 0 && (s.stdout.match(new RegExp(`No changes: ${size} node\\(s\\) up to date`, 'g')) ?? []).length === clusters;
      expect(await kadeploy(args(['apply'])), noopOk, `kadeploy no-op on ${n} hosts${label} (warm-up)`);
      const noop: ScaleRow = { n, tool: 'kadeploy', op: `no-op apply${label}`, forks, samples: [], hostCpu: [] };
      const dry: ScaleRow = { n, tool: 'kadeploy', op: `dry-run${label}`, forks, samples: [], hostCpu: [] };
      for (let r = 0; r < CFG.scaleRuns; r++) {
        for (const [row, op] of [[noop, ['apply']], [dry, ['apply', '--dry-run']]] as const) {
          const [s, host] = await timed(() => kadeploy(args([...op])));
          row.samples.push(expect(s, op.length === 1 ? noopOk : exit0, `kadeploy ${row.op} on ${n} hosts`));
          row.hostCpu.push(host);
        }
      }
      rows.push(noop, dry);
      log(`scale: ${n} hosts${label}: no-op median ${wall(noop.samples).median.toFixed(2)} s, dry-run ${wall(dry.samples).median.toFixed(2)} s`);
    }
  }
  if (CFG.scaleLayouts.at(-1) !== 'fleet') await renderLayout('fleet');

  if (CFG.forksSweep.length && fleet.hosts.length >= 100) {
    const inv = invFor(100);
    for (const forks of CFG.forksSweep.filter((f) => f !== (CFG.scaleForks ?? 100))) {
      const row: ScaleRow = { n: 100, tool: 'kadeploy', op: 'no-op apply (forks sweep)', forks, samples: [], hostCpu: [] };
      for (let r = 0; r < CFG.scaleRuns; r++) {
        const [s, host] = await timed(() => kadeploy(['apply', inv, '--playbook', SCALE_PLAYBOOK, '--forks', String(forks), '--detailed-exitcode']));
        row.samples.push(expect(s, exit0, `kadeploy no-op on 100 hosts with forks ${forks}`));
        row.hostCpu.push(host);
      }
      rows.push(row);
    }
  }

  const ansibleNs = CFG.scaleAnsible.filter((n) => n <= fleet.hosts.length);
  if (ansibleNs.length) {
    const ansible = new Ansible(join(work, 'ansible-scale'));
    cleanups.push(() => ansible.closeMasters());
    for (const n of ansibleNs) {
      const file = join(FLEET_DIR, `ansible-inventory-${n}.yaml`);
      writeAnsibleInventory(file, {
        hosts: fleet.hosts.slice(0, n).map((h, i) => ({ name: h.name, ip: h.ip, vipHolder: i === 0 })),
        keyPath,
        knownHostsPath,
        renderDir: rendered,
        vip: '127.0.255.100',
      });
      expect(await ansible.playbook('scale.yaml', file, n), ansibleOk('none'), `ansible no-op on ${n} hosts (warm-up)`);
      await ansible.closeMasters();
      const row: ScaleRow = { n, tool: 'ansible', op: 'no-op (scale.yaml)', forks: n, samples: [], hostCpu: [] };
      for (let r = 0; r < CFG.scaleRuns; r++) {
        // Memory sampling every 200 ms here: reading smaps of ~2N processes is not free.
        const [s, host] = await timed(() => ansible.playbook('scale.yaml', file, n, [], 200), () => ansible.closeMasters());
        row.samples.push(expect(s, ansibleOk('none'), `ansible no-op on ${n} hosts`));
        row.hostCpu.push(host);
      }
      rows.push(row);
      log(`scale: ansible, ${n} hosts: no-op median ${wall(row.samples).median.toFixed(2)} s`);
    }
  }

  const at100 = rows.find((r) => r.n === 100 && r.tool === 'kadeploy' && r.op === 'no-op apply');
  if (CFG.profile && at100 && (wall(at100.samples).median > 3 || peakRssMiB(at100.samples) > 200)) {
    await profileRun('no-op, 100 hosts', ['apply', invFor(100), '--playbook', SCALE_PLAYBOOK, '--forks', String(at100.forks)]);
  }
  await fleet.stop();
}

// ---------------------------------------------------------------- report

function labTable(results: OpResult[]): string {
  const rows = results.map((r) => {
    const k = r.k ? wall(r.k) : undefined;
    const a = r.a ? wall(r.a) : undefined;
    const ratio = k && a ? `${(a.median / k.median).toFixed(1)}x` : '-';
    const kMem = r.k ? mib(peakRssMiB(r.k)) : '-';
    const aMem = r.a ? `${mib(peakPssMiB(r.a))} / ${mib(peakRssMiB(r.a))}` : '-';
    const cpus_ = `${r.k ? cpu(r.k).median.toFixed(2) : '-'} / ${r.a ? cpu(r.a).median.toFixed(2) : '-'}`;
    return [r.op, k ? triple(k) : '-', a ? triple(a) : '-', ratio, kMem, aMem, cpus_];
  });
  return table(
    ['operation', 'kadeploy s (median / min / max)', 'ansible s (median / min / max)', 'ansible/kadeploy', 'kadeploy peak MB', 'ansible peak MB (ΣPSS / ΣRSS)', 'CPU s k / a'],
    rows,
  );
}

function scaleTable(rows: ScaleRow[]): string {
  return table(
    ['hosts', 'tool', 'operation', 'forks', 'wall s (median / min / max)', 'wall per host ms', 'tool CPU s', 'tool CPU per host ms', 'hosts CPU s', 'peak MB'],
    rows.map((r) => {
      const w = wall(r.samples);
      const c = cpu(r.samples);
      const host = summarize(r.hostCpu);
      const mem = r.tool === 'kadeploy' ? mib(peakRssMiB(r.samples)) : `${mib(peakPssMiB(r.samples))} PSS / ${mib(peakRssMiB(r.samples))} RSS`;
      return [String(r.n), r.tool, r.op, String(r.forks), triple(w), (1000 * w.median / r.n).toFixed(1), c.median.toFixed(2), (1000 * c.median / r.n).toFixed(1), host.median.toFixed(2), mem];
    }),
  );
}

/** Least squares y = a + b·x, with R². */
function fit(xs: number[], ys: number[]): { a: number; b: number; r2: number } {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  const sxy = xs.reduce((s, x, i) => s + (x - mx) * (ys[i]! - my), 0);
  const sxx = xs.reduce((s, x) => s + (x - mx) ** 2, 0);
  const b = sxx ? sxy / sxx : 0;
  const a = my - b * mx;
  const ssTot = ys.reduce((s, y) => s + (y - my) ** 2, 0);
  const ssRes = ys.reduce((s, y, i) => s + (y - (a + b * xs[i]!)) ** 2, 0);
  return { a, b, r2: ssTot ? 1 - ssRes / ssTot : 1 };
}

/**
 * The first deploy's floor next to both tools (medians, same run): how far above it each is, and
 * whether the 2.5x target (Ansible's median / 2.5) lies below it — then no tool that installs
 * keepalived's packages and waits for its election can meet it on this lab.
 */
function floorVerdict(floor: FloorSample[] | undefined, results: OpResult[]): string[] {
  if (!floor?.length) return ['NOT MEASURED  first deploy floor (lab part not run)'];
  const f = summarize(floor.map((x) => x.wallS));
  const install = summarize(floor.map((x) => x.installS)).median;
  const election = summarize(floor.map((x) => x.electionS)).median;
  const median = (s?: Sample[]) => (s?.length ? wall(s).median : undefined);
  const deploy = results.find((r) => r.op === 'first deploy, 2 nodes');
  const bare = results.find((r) => r.op === 'first deploy, 2 nodes, --skip-preflight');
  const above = (what: string, x: number | undefined) =>
    x === undefined ? `${what} -` : `${what} ${x.toFixed(2)} s = floor + ${(x - f.median).toFixed(2)} s (${(x / f.median).toFixed(2)}x the floor)`;
  const a = median(deploy?.a);
  const target = a === undefined ? undefined : a / 2.5;
  return [
    `        first deploy floor, 2 nodes (update + install over one ssh per node, start, the holder's election; bench/lib/floor.ts): ` +
      `${triple(f)} s (medians: update + install + start ${install.toFixed(2)} s, election ${election.toFixed(2)} s)`,
    `        ${above('kadeploy', median(deploy?.k))}; ${above('--skip-preflight', median(bare?.k))}; ${above('Ansible', a)}`,
    target === undefined
      ? '        2.5x target: -'
      : `        2.5x target = Ansible / 2.5 = ${target.toFixed(2)} s: ${target < f.median ? `${(f.median - target).toFixed(2)} s BELOW the floor (unreachable for any tool on this lab)` : `${(target - f.median).toFixed(2)} s above the floor`}`,
  ];
}

function verdicts(found: Found, results: OpResult[], scale: ScaleRow[], startup?: Startup): string[] {
  const out: string[] = [];
  const mark = (ok: boolean | undefined) => (ok === undefined ? 'NOT MEASURED' : ok ? 'MET   ' : 'MISSED');
  // Issue 15's targets: kadeploy against Ansible in the same run (medians of wall time).
  const ratio = (op: string, target: number) => {
    const r = results.find((x) => x.op === op);
    const k = r?.k?.length ? wall(r.k).median : undefined;
    const a = r?.a?.length ? wall(r.a).median : undefined;
    const x = k && a ? a / k : undefined;
    out.push(`${mark(x === undefined ? undefined : x >= target)}  ${op}: ${x ? x.toFixed(1) : '-'}x faster than Ansible (target >= ${target}x; medians ${a?.toFixed(2) ?? '-'} s vs ${k?.toFixed(2) ?? '-'} s)`);
  };
  ratio('no-op re-apply, 2 nodes', 12);
  ratio('dry-run (1 change), 2 nodes', 12);
  ratio('verify, 2 nodes', 8);
  ratio('first deploy, 2 nodes', 2.5);
  ratio('first deploy, 2 nodes, --skip-preflight', 2.5);
  out.push(...floorVerdict(found.floor, results));
  if (startup) {
    const n = wall(startup.node).median;
    const v = wall(startup.validate).median;
    out.push(`${mark(v <= 2.5 * n)}  validate: ${(v / n).toFixed(1)}x the wall time of node -e 0 (target <= 2.5x; medians ${v.toFixed(2)} s vs ${n.toFixed(2)} s; CPU ${cpu(startup.validate).median.toFixed(2)} s vs ${cpu(startup.node).median.toFixed(2)} s)`);
  } else out.push(`${mark(undefined)}  validate vs node -e 0 (start-up part not run)`);
  const failover = failoverVerdict(found.drill);
  out.push(`${mark(failover.met)}  ${failover.text}`);
  const k100 = scale.find((r) => r.n === 100 && r.tool === 'kadeploy' && r.op === 'no-op apply');
  if (k100) {
    const w = wall(k100.samples);
    const mem = peakRssMiB(k100.samples);
    const c = cpu(k100.samples).median;
    const hostCpu = summarize(k100.hostCpu).median;
    out.push(
      `${mark(c * 10 <= 8)}  100 hosts no-op: kadeploy's own CPU ${(c * 10).toFixed(1)} ms per host (target <= 8 ms; ${c.toFixed(2)} s in all); ` +
        `wall ${w.median.toFixed(2)} s, the hosts' CPU ${hostCpu.toFixed(2)} s on the same ${cpus().length} cores: CPU-bound floor on this rig ${((c + hostCpu) / cpus().length).toFixed(2)} s`,
    );
    out.push(`${mark(mem <= 150)}  100 hosts no-op: peak ${mem.toFixed(0)} MB (target <= 150 MB)`);
  } else {
    out.push(`${mark(undefined)}  100 hosts no-op (scale part not run at N=100)`);
  }
  const main = scale.filter((r) => r.tool === 'kadeploy' && r.op === 'no-op apply').sort((a, b) => a.n - b.n);
  if (main.length >= 3) {
    const xs = main.map((r) => r.n);
    const fw = fit(xs, main.map((r) => wall(r.samples).median));
    const fc = fit(xs, main.map((r) => cpu(r.samples).median));
    const fh = fit(xs, main.map((r) => summarize(r.hostCpu).median));
    // Marginal CPU per host over the first and the last interval: close to linear when they agree.
    const first = main[0]!;
    const second = main[1]!;
    const last = main.at(-1)!;
    const prev = main.at(-2)!;
    const marg = (a: ScaleRow, b: ScaleRow) => (cpu(b.samples).median - cpu(a.samples).median) / (b.n - a.n);
    const m1 = marg(first, second);
    const m2 = marg(prev, last);
    // Close to linear in CPU: the fit holds and a host costs no more at 200 than at 10-50. Not in round
    // trips: wall grows no faster than the CPU all of it needs (kadeploy's + the hosts', over the cores).
    const cpuFloorSlope = (fc.b + fh.b) / cpus().length;
    const linear = fc.r2 >= 0.95 && m2 <= 1.5 * m1 && fw.b <= 1.5 * cpuFloorSlope;
    out.push(
      `${mark(linear)}  growth with N: kadeploy CPU = ${fc.a.toFixed(2)} s + ${(1000 * fc.b).toFixed(1)} ms/host (R² ${fc.r2.toFixed(3)}); ` +
        `marginal kadeploy CPU per host ${(1000 * m1).toFixed(1)} ms (${first.n}→${second.n}) vs ${(1000 * m2).toFixed(1)} ms (${prev.n}→${last.n}); ` +
        `wall = ${fw.a.toFixed(2)} s + ${(1000 * fw.b).toFixed(1)} ms/host (R² ${fw.r2.toFixed(3)}) against a CPU-bound ${(1000 * cpuFloorSlope).toFixed(1)} ms/host ` +
        `(hosts' CPU ${(1000 * fh.b).toFixed(1)} ms/host + kadeploy's, over ${cpus().length} cores)`,
    );
  }
  return out;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (lab, network namespaces, sshd)');
  const started = Date.now();
  await ensureHostTools(log);
  const busy = await busyShare();
  const ansibleVersion = (await run('ansible-playbook', ['--version'])).stdout.split('\n')[0] ?? '?';
  const header = [
    `kadeploy benchmark — ${new Date().toISOString()}`,
    `machine: ${cpus().length} CPU (${cpus()[0]?.model ?? '?'}), node ${process.version}, ${ansibleVersion.trim()}`,
    `load before start: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (1/5/15 min), CPUs ${(100 * busy).toFixed(0)}% busy over 1 s`,
    `runs per tool: ${CFG.labNodes[0] ?? '-'} nodes: first deploy ${CFG.deployRuns}, other operations ${CFG.runs}; ${CFG.labNodes.slice(1).join(', ') || '-'} nodes: ${CFG.otherRuns} each; scale: ${CFG.scaleRuns}`,
  ];
  if (busy > 0.15) log(`warning: the machine is ${(100 * busy).toFixed(0)}% busy before the bench starts; timings will be noisy`);
  const work = mkdtempSync(join(tmpdir(), 'kadeploy-bench-work-'));
  cleanups.push(async () => rmSync(work, { recursive: true, force: true }));
  cleanups.push(async () => removeTimeDir());
  const results: OpResult[] = [];
  const scale: ScaleRow[] = [];
  let found: Found = {};
  let startup: Startup | undefined;
  try {
    if (!CFG.skipStartup) startup = await startupPart();
    if (!CFG.skipLab) found = await labPart(work, results);
    if (!CFG.skipScale && CFG.scale.length) await scalePart(work, scale);
  } finally {
    await cleanupAll();
  }
  const out = [
    ...header,
    '',
  ];
  if (results.length) {
    out.push(
      'kadeploy vs Ansible on the bench lab (systemd-nspawn Debian 12 nodes; wall seconds; peak MB: kadeploy = its max RSS (GNU time),',
      'Ansible = peak of the summed PSS / RSS of ansible-playbook, its forked workers, ssh clients and ssh ControlMasters, sampled every 50 ms;',
      'CPU = user+sys of the tool and its waited-for children, median):',
      labTable(results),
      '',
    );
  }
  if (scale.length) {
    out.push(
      `Scale: loopback SSH hosts (one sshd each, own host key, private /run and /root) as a fleet of N / 2 clusters of 2 nodes, no-op of bench/scale-playbook.yaml;`,
      `tool CPU = kadeploy's (or ansible-playbook's tree) user+sys; hosts CPU = all sshd/shell/fact-command CPU, on the same ${cpus().length} cores:`,
      scaleTable(scale),
      '',
    );
  }
  if (startup) {
    out.push(
      `Start-up: ${CFG.startupRuns} interleaved runs each (wall s and CPU s, median / min / max):`,
      table(['command', 'wall s', 'CPU s', 'peak MB'], [
        ['node -e 0', triple(wall(startup.node)), triple(cpu(startup.node)), mib(peakRssMiB(startup.node))],
        ['kadeploy validate inventories/doc-two-nodes.yaml', triple(wall(startup.validate)), triple(cpu(startup.validate)), mib(peakRssMiB(startup.validate))],
        ['the same, no compile cache (a first run)', triple(wall(startup.uncached)), triple(cpu(startup.uncached)), mib(peakRssMiB(startup.uncached))],
        ['the same as node dist/cli/main.js (no launcher)', triple(wall(startup.direct)), triple(cpu(startup.direct)), mib(peakRssMiB(startup.direct))],
      ]),
      '',
    );
  }
  if (found.drill) out.push(failoverTable(found.drill, 2), '');
  out.push('Targets:', ...verdicts(found, results, scale, startup).map((l) => `  ${l}`), '');
  if (profiles.length) out.push('Profiles of the missed targets (node --cpu-prof, one run each):', ...profiles, '');
  out.push(`load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}; bench took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch(async (err) => {
  await cleanupAll();
  process.stderr.write(`bench: failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
