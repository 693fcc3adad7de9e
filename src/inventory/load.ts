// Load an inventory: read → YAML (with positions) → schema → cluster rules → resolve. Every problem
// is collected and reported at once, each with file:line:column and field path, before any SSH.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { formatIssue, InventoryError, KadeployError, type Issue } from '../errors.js';
import { checkFleet, clusterInventory, sourcePath, type FleetMember } from './fleet.js';
import type { Cluster, Fleet } from './model.js';
import { expandFailoverProfile } from './failover-profile.js';
import { resolveCluster } from './resolve.js';
import { checkFilePaths } from './paths.js';
import { checkRules, hint } from './rules.js';
import { fleetSchema, inventorySchema, PARSE_ONCE, type RawFleet, type RawInventory } from './schema.js';
import { formatPath, YamlSource, type FieldPath } from './source.js';

/** The largest inventory read: real ones are a few KB; a bigger file is a mistake (or an attack), refused before parsing. */
export const MAX_INVENTORY_BYTES = 1024 * 1024;
/** Syntax errors shown at most (the rest are counted): a broken file can have thousands. */
const MAX_SYNTAX_ERRORS = 20;

export interface Loaded {
  cluster: Cluster;
  warnings: Issue[];
}

export interface LoadedFleet {
  fleet: Fleet;
  warnings: Issue[];
}

/** An inventory of one cluster (a fleet of several is refused: the caller handles one cluster). */
export function loadInventory(path: string, env: NodeJS.ProcessEnv = process.env): Loaded {
  const { fleet, warnings } = loadFleet(path, env);
  if (fleet.clusters.length !== 1) throw new KadeployError(`${path}: a fleet of ${fleet.clusters.length} clusters; expected one cluster here`);
  return { cluster: fleet.clusters[0]!, warnings };
}

/** Top-level fields that belong to each cluster once `clusters:` is there. */
const CLUSTER_ONLY = ['vrrp_instances', 'nodes'] as const;

export function loadFleet(path: string, env: NodeJS.ProcessEnv = process.env): LoadedFleet {
  const file = path; // as the user wrote it: messages should name the file they typed
  const fail = (message: string, line?: number, column?: number): never => {
    throw new InventoryError([{ file, line, column, path: '', message, severity: 'error' }]);
  };

  let text = '';
  try {
    const fd = openSync(resolve(file), 'r');
    try {
      // Read at most one byte past the cap, also from a pipe or a device, which has no size.
      const buf = Buffer.alloc(MAX_INVENTORY_BYTES + 1);
      let n = 0;
      for (let r = 1; r > 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
      if (n > MAX_INVENTORY_BYTES) {
        const { size } = fstatSync(fd);
        const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1).replace(/\.0$/, '')} MB`;
        fail(`inventory is ${size > n ? mb(size) : `over ${mb(MAX_INVENTORY_BYTES)}`}; kadeploy reads inventories of at most ${mb(MAX_INVENTORY_BYTES)}`);
      }
      text = buf.toString('utf8', 0, n);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if (e instanceof InventoryError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    fail(code === 'ENOENT' ? 'inventory file not found' : code === 'EISDIR' ? 'is a directory, not an inventory file' : `cannot read inventory: ${code ?? e}`);
  }

  const source = YamlSource.parse(file, text);
  const syntax = source.syntaxErrors();
  if (syntax.length > 0) {
    const shown = syntax.slice(0, MAX_SYNTAX_ERRORS).map((e) => ({ file, line: e.line, column: e.column, path: '', message: `YAML syntax: ${e.message}`, severity: 'error' as const }));
    const more = syntax.length - shown.length;
    if (more > 0) shown.push({ ...shown[shown.length - 1]!, message: `YAML syntax: … and ${more} more error(s)` });
    throw new InventoryError(shown);
  }
  let data: unknown;
  try {
    data = source.doc.toJS();
  } catch (e) {
    // e.g. an alias bomb: "Excessive alias count indicates a resource exhaustion attack"
    fail(`YAML: ${(e as Error).message.split('\n')[0]}`, 1, 1);
  }
  if (data === null || data === undefined) fail('inventory is empty (expected vrrp_instances and nodes)');
  if (typeof data !== 'object' || Array.isArray(data)) fail('inventory must be a YAML mapping (key: value) at the top level', 1, 1);

  const issueAt = (path: FieldPath, message: string, severity: Issue['severity'], key?: string): Issue => {
    const pos = source.position(path, key);
    return { file, line: pos?.line, column: pos?.column, path: formatPath(key ? [...path, key] : path), message, severity };
  };

  const top = data as Record<string, unknown>;
  const isFleet = 'clusters' in top;
  const misplaced = isFleet ? CLUSTER_ONLY.filter((k) => k in top) : [];
  const misplacedIssues = misplaced.map((k) => issueAt([], `with clusters:, each cluster holds its own ${k} (move it under clusters.NAME.${k})`, 'error', k));
  const schema = isFleet ? fleetSchema : inventorySchema;
  const parsed = schema.safeParse(isFleet ? Object.fromEntries(Object.entries(top).filter(([k]) => !misplaced.includes(k as never))) : data, PARSE_ONCE);
  if (!parsed.success || misplacedIssues.length) {
    const issues = parsed.error?.issues.flatMap((i) => schemaIssues(i, data, issueAt, schema)) ?? [];
    throw new InventoryError([...misplacedIssues, ...issues].sort(byLine));
  }

  const members: FleetMember[] = isFleet
    ? Object.entries((parsed.data as RawFleet).clusters).map(([name, body]) => ({ name, body, inv: clusterInventory(parsed.data as RawFleet, body) }))
    : [{ name: '', inv: parsed.data as RawInventory }];
  const all: Issue[] = [];
  const clusters = members.map((m) => {
    // The profile's fields are validated and resolved like the user's own.
    const profile = expandFailoverProfile(m.inv);
    const ruleIssues = [...profile.issues, ...checkFilePaths(profile.inv), ...checkRules(profile.inv)];
    const { cluster, issues } = resolveCluster(profile.inv, resolve(file), env, m.name);
    if (profile.applied.length) cluster.failoverProfile = { name: profile.inv.failover!, applied: profile.applied };
    for (const i of [...ruleIssues, ...issues]) all.push(issueAt(sourcePath(m, i.path), i.message, i.severity));
    return cluster;
  });
  const where = (p: FieldPath) => `${file}:${source.position(p)?.line ?? '?'}`;
  for (const i of checkFleet(members)) all.push(issueAt(i.path, i.other ? `${i.message} (${formatPath(i.other)} at ${where(i.other)})` : i.message, i.severity));
  // A shared setting is checked once per cluster: report it once.
  const unique = [...new Map(all.map((i) => [formatIssue(i), i])).values()].sort(byLine);
  if (unique.some((i) => i.severity === 'error')) throw new InventoryError(unique);
  return { fleet: { file: resolve(file), clusters }, warnings: unique };
}

const byLine = (a: Issue, b: Issue) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);

type IssueAt = (path: FieldPath, message: string, severity: Issue['severity'], key?: string) => Issue;

/** Turn one zod issue into located, readable problems. */
function schemaIssues(issue: z.core.$ZodIssue, data: unknown, issueAt: IssueAt, schema: z.ZodType): Issue[] {
  const path = issue.path as FieldPath;
  if (issue.code === 'unrecognized_keys') {
    const known = Object.keys(shapeAt(schema, path) ?? {});
    return issue.keys.map((key) => issueAt(path, `unknown field "${key}"${hint(key, known)}`, 'error', key));
  }
  if (issue.code === 'invalid_key') {
    const key = String(path[path.length - 1]);
    const why = issue.issues[0]?.message ?? issue.message;
    return [issueAt(path.slice(0, -1), `invalid name "${key}": ${why}`, 'error', key)];
  }
  if (issue.code === 'invalid_union') {
    // Report the alternative that got furthest (deepest paths): usually the one the user meant.
    const depth = (branch: z.core.$ZodIssue[]) => Math.max(0, ...branch.map((b) => b.path.length));
    const best = [...issue.errors].sort((a, b) => depth(b) - depth(a))[0];
    if (best && depth(best) > 0) {
      return best.flatMap((b) => schemaIssues({ ...b, path: [...path, ...b.path] } as z.core.$ZodIssue, data, issueAt, schema));
    }
    return [issueAt(path, 'has the wrong form (see the inventory format in the README)', 'error')];
  }
  const missing = issue.code === 'invalid_type' && valueAt(data, path) === undefined;
  return [issueAt(path, missing ? `is required (${issue.expected})` : issue.message, 'error')];
}

function valueAt(data: unknown, path: FieldPath): unknown {
  return path.reduce<unknown>((v, seg) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[seg] : undefined), data);
}

/** The object shape of the schema at `path`, to suggest known field names. */
function shapeAt(root: z.ZodType, path: FieldPath): Record<string, unknown> | undefined {
  let schema: unknown = root;
  for (const seg of path) {
    const def = unwrap(schema)?._zod?.def;
    if (!def) return undefined;
    if (def.type === 'object') schema = def.shape[seg];
    else if (def.type === 'array') schema = def.element;
    else if (def.type === 'record') schema = def.valueType;
    else return undefined;
  }
  return unwrap(schema)?._zod?.def?.shape;
}

// zod's internals are typed loosely on purpose; walk optional/union wrappers to the object.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function unwrap(schema: any): any {
  let s = schema;
  while (s?._zod?.def) {
    const def = s._zod.def;
    if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable') s = def.innerType;
    else if (def.type === 'union') s = def.options.find((o: any) => o._zod.def.type === 'object') ?? def.options[0];
    else break;
  }
  return s;
}
