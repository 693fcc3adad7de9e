// keepalived.conf files (one per node) → an inventory. Every statement lands in a typed field when
// kadeploy has one and the value passes its schema, else in a verbatim block at the same level (global,
// global_defs or instance), so nothing is dropped. Values equal on every node become cluster values;
// the rest become per-node overrides. auth_pass goes out as an {env: …} reference, never as a value.
import type { z } from 'zod';
import { parseCidr } from '../inventory/ip.js';
import {
  globalDefsSchema,
  instanceSchema,
  syncGroupSchema,
  trackFileSchema,
  trackProcessSchema,
  vipSchema,
  vrrpScriptSchema,
} from '../inventory/schema.js';
import { ImportError } from '../errors.js';
import { statementText, type Statement } from './parse.js';

type Obj = Record<string, unknown>;

export interface ImportSource {
  node: string;
  file: string;
  statements: Statement[];
}

export interface ImportResult {
  inventory: Obj;
  /** Things the user should know (kept verbatim, truncated passwords, secrets to set). Never a secret. */
  notes: string[];
  /** Secret values by environment variable name: for the caller to hand over, never to print. */
  secrets: Record<string, string>;
}

const at = (st: Statement) => `${st.file}:${st.line}`;
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const num = (s: string | undefined) => (s !== undefined && /^-?\d+(\.\d+)?$/.test(s) ? Number(s) : undefined);
const flag = (st: Statement) => (st.args.length === 0 ? true : /^(on|true|yes)$/i.test(st.args[0]!) ? true : /^(off|false|no)$/i.test(st.args[0]!) ? false : undefined);

/** What one file says, split into typed values and verbatim text, before comparing nodes. */
interface NodeConfig {
  src: ImportSource;
  globalDefs: Obj;
  globalVerbatim: string[];
  scripts: Map<string, Obj>;
  /** Typed top-level blocks other than scripts, by "kind name". */
  blocks: Map<string, { field: string; name?: string; value: unknown; st: Statement }>;
  verbatim: string[];
  instances: Map<string, { st: Statement; value: Obj; verbatim: string[]; pass?: string; passAt?: Statement }>;
}

/** A value for `field` of `schema`, or undefined when it does not fit (the caller keeps it verbatim). */
function fits(schema: z.ZodObject, field: string, value: unknown): boolean {
  const s = schema.shape[field] as z.ZodType | undefined;
  return value !== undefined && !!s && s.safeParse(value).success;
}

function parseVip(st: Statement): unknown {
  const [address, ...rest] = [st.keyword, ...st.args];
  if (rest.length === 0) return address;
  const v: Obj = { address };
  for (let k = 0; k < rest.length; k += 2) {
    const key = rest[k]!;
    if (!['brd', 'dev', 'scope', 'label'].includes(key) || rest[k + 1] === undefined || key in v) return undefined;
    v[key] = rest[k + 1];
  }
  return v;
}

function vipList(st: Statement): unknown[] {
  return (st.children ?? []).map((c) => {
    const v = parseVip(c);
    if (v === undefined || !vipSchema.safeParse(v).success) {
      throw new ImportError(`${at(c)}: ${[c.keyword, ...c.args].join(' ')}: kadeploy takes a VIP as ADDRESS[/PREFIX] [brd IP] [dev IFACE] [scope SCOPE] [label LABEL]; this one cannot be represented`);
    }
    return v;
  });
}

function trackedList(st: Statement): unknown[] | undefined {
  const out: unknown[] = [];
  for (const c of st.children ?? []) {
    if (c.args.length === 0) out.push(c.keyword);
    else if (c.args.length === 2 && c.args[0] === 'weight' && num(c.args[1]) !== undefined) out.push({ name: c.keyword, weight: num(c.args[1]) });
    else return undefined;
  }
  return out;
}

const lines = (st: Statement) => (st.children ?? []).map((c) => [c.keyword, ...c.args].join(' '));
const TRACK_FIELDS: Record<string, string> = {
  track_interface: 'track_interfaces',
  track_script: 'track_scripts',
  track_process: 'track_processes',
  track_file: 'track_files',
};
const NUMBER_FIELDS = ['priority', 'virtual_router_id', 'advert_int', 'preempt_delay', 'garp_master_delay', 'garp_master_repeat', 'garp_master_refresh', 'garp_master_refresh_repeat', 'version'];
const FLAG_FIELDS = ['nopreempt', 'vmac_xmit_base', 'native_ipv6', 'dont_track_primary', 'smtp_alert'];
const STRING_FIELDS = ['state', 'interface', 'notify_master', 'notify_backup', 'notify_fault', 'notify_stop', 'notify', 'unicast_src_ip', 'mcast_src_ip'];

/** One instance statement → typed value for the field, or undefined (kept verbatim). */
function instanceField(c: Statement): [string, unknown] | undefined {
  const k = c.keyword;
  if (c.children) {
    if (k === 'virtual_ipaddress') return ['virtual_ipaddresses', vipList(c)];
    if (k === 'virtual_ipaddress_excluded') return ['virtual_ipaddress_excluded', vipList(c)];
    if (TRACK_FIELDS[k]) return [TRACK_FIELDS[k]!, trackedList(c)];
    if (k === 'unicast_peer') return ['unicast_peers', (c.children ?? []).every((p) => p.args.length === 0) ? c.children!.map((p) => p.keyword) : undefined];
    if (k === 'virtual_routes' || k === 'virtual_rules') return [k, lines(c)];
    return undefined;
  }
  if (NUMBER_FIELDS.includes(k) && c.args.length === 1) return [k, num(c.args[0])];
  if (FLAG_FIELDS.includes(k) && c.args.length <= 1) return [k, flag(c)];
  if (STRING_FIELDS.includes(k) && c.args.length === 1) return [k, c.args[0]];
  if (k === 'accept' && c.args.length === 0) return ['accept', true];
  if (k === 'no_accept' && c.args.length === 0) return ['accept', false];
  if (k === 'use_vmac' && c.args.length <= 1) return ['use_vmac', c.args[0] ?? true];
  return undefined;
}

const INSTANCE_FIELDS = new Set([...Object.keys(instanceSchema.shape), 'state', 'priority']);

function readInstance(st: Statement, notes: string[]) {
  const value: Obj = {};
  const verbatim: string[] = [];
  let pass: string | undefined;
  let passAt: Statement | undefined;
  const seen = new Map<string, Statement>();
  for (const c of st.children ?? []) {
    if (c.keyword === 'authentication' && c.children) {
      const type = c.children.find((x) => x.keyword === 'auth_type')?.args[0];
      const p = c.children.find((x) => x.keyword === 'auth_pass');
      if (c.children.some((x) => !['auth_type', 'auth_pass'].includes(x.keyword)) || !p || p.args.length !== 1 || (type && !['PASS', 'AH'].includes(type))) {
        throw new ImportError(`${at(c)}: authentication: kadeploy takes auth_type PASS|AH and one auth_pass; this block cannot be represented`);
      }
      value.authentication = { ...(type ? { auth_type: type } : {}), auth_pass: '' };
      pass = p.args[0]!;
      passAt = p;
      continue;
    }
    const typed = instanceField(c);
    const field = typed?.[0];
    const ok = typed !== undefined && (field === 'state' ? ['MASTER', 'BACKUP'].includes(String(typed[1])) : field === 'priority' ? Number.isInteger(typed[1]) && (typed[1] as number) >= 1 && (typed[1] as number) <= 255 : fits(instanceSchema, field!, typed[1]));
    if (ok && field && INSTANCE_FIELDS.has(field)) {
      const before = seen.get(field);
      if (before) throw new ImportError(`${at(c)}: ${c.keyword} is given twice in ${st.args[0]} (also at line ${before.line}); keepalived keeps one, kadeploy will not guess which`);
      seen.set(field, c);
      value[field] = typed![1];
    } else {
      if (typed !== undefined) notes.push(`${at(c)}: ${c.keyword}: kept verbatim in vrrp_instances.${st.args[0]}.verbatim (the value does not pass kadeploy's check for ${field})`);
      verbatim.push(statementText(c));
    }
  }
  return { st, value, verbatim, pass, passAt };
}

/** global_defs statements → typed fields; the rest verbatim. */
function readGlobalDefs(st: Statement, cfg: NodeConfig, notes: string[]): void {
  for (const c of st.children ?? []) {
    const k = c.keyword;
    let typed: [string, unknown] | undefined;
    if (k === 'notification_email' && c.children) typed = [k, c.children.map((x) => x.keyword)];
    else if (['enable_script_security', 'vrrp_skip_check_adv_addr', 'vrrp_strict'].includes(k) && c.args.length === 0) typed = [k, true];
    else if (k === 'script_user' && c.args.length >= 1 && c.args.length <= 2) {
      cfg.globalDefs.script_user = c.args[0];
      if (c.args[1]) cfg.globalDefs.script_group = c.args[1];
      continue;
    } else if (k === 'nftables' && c.args.length <= 1) typed = [k, c.args[0] ?? true];
    else if (k === 'vrrp_iptables') typed = [k, c.args.length ? c.args : true];
    else if (!c.children && c.args.length === 1) {
      const v = num(c.args[0]);
      typed = [k, v !== undefined && !['router_id', 'default_interface', 'smtp_server'].includes(k) ? v : c.args[0]];
    }
    if (typed && typed[0] !== 'verbatim' && fits(globalDefsSchema, typed[0], typed[1]) && !(typed[0] in cfg.globalDefs)) {
      cfg.globalDefs[typed[0]] = typed[1];
    } else {
      if (typed && typed[0] in globalDefsSchema.shape) notes.push(`${at(c)}: ${k}: kept verbatim in global_defs.verbatim (the value does not pass kadeploy's check)`);
      cfg.globalVerbatim.push(statementText(c));
    }
  }
}

/** A block of `key value` lines as an object, when each key appears once with one value. */
function simpleBlock(st: Statement, map: (c: Statement) => [string, unknown] | undefined): Obj | undefined {
  const out: Obj = {};
  for (const c of st.children ?? []) {
    const kv = map(c);
    if (!kv || kv[0] in out) return undefined;
    out[kv[0]] = kv[1];
  }
  return out;
}

const scalar = (c: Statement): [string, unknown] | undefined =>
  c.children ? undefined : c.args.length === 0 ? [c.keyword, true] : c.args.length === 1 ? [c.keyword, num(c.args[0]) ?? c.args[0]] : undefined;

function readTop(src: ImportSource, notes: string[]): NodeConfig {
  const cfg: NodeConfig = { src, globalDefs: {}, globalVerbatim: [], scripts: new Map(), blocks: new Map(), verbatim: [], instances: new Map() };
  const keep = (st: Statement) => cfg.verbatim.push(statementText(st));
  for (const st of src.statements) {
    const name = st.args[0];
    if (st.keyword === 'global_defs' && st.children) readGlobalDefs(st, cfg, notes);
    else if (st.keyword === 'vrrp_instance' && st.children && name && st.args.length === 1) {
      if (cfg.instances.has(name)) throw new ImportError(`${at(st)}: vrrp_instance ${name} is defined twice`);
      cfg.instances.set(name, readInstance(st, notes));
    } else if (st.keyword === 'vrrp_script' && st.children && name) {
      const s = simpleBlock(st, (c) => (c.keyword === 'user' && c.args.length === 1 ? ['user', c.args[0]] : c.keyword === 'script' && c.args.length === 1 ? ['script', c.args[0]] : scalar(c)));
      if (s && vrrpScriptSchema.safeParse(s).success) cfg.scripts.set(name, s);
      else {
        notes.push(`${at(st)}: vrrp_script ${name}: kept verbatim (kadeploy's vrrp_scripts take a plain command and whole-second interval)`);
        keep(st);
      }
    } else if (st.keyword === 'vrrp_sync_group' && st.children && name) {
      const g = simpleBlock(st, (c) =>
        c.keyword === 'group' && c.children ? ['group', c.children.map((m) => m.keyword)] : TRACK_FIELDS[c.keyword] && c.children ? [TRACK_FIELDS[c.keyword]!, trackedList(c)] : scalar(c),
      );
      if (g && syncGroupSchema.safeParse(g).success) cfg.blocks.set(`sync ${name}`, { field: 'vrrp_sync_groups', name, value: g, st });
      else keep(st);
    } else if (st.keyword === 'vrrp_track_process' && st.children && name) {
      const p = simpleBlock(st, (c) => (c.keyword === 'weight' && c.args.length === 2 && c.args[1] === 'reverse' ? ['weight', num(c.args[0])] : scalar(c)));
      const reverse = st.children.some((c) => c.keyword === 'weight' && c.args[1] === 'reverse');
      const value = p && reverse ? { ...p, reverse: true } : p;
      if (value && trackProcessSchema.safeParse(value).success) cfg.blocks.set(`process ${name}`, { field: 'vrrp_track_processes', name, value, st });
      else keep(st);
    } else if ((st.keyword === 'track_file' || st.keyword === 'vrrp_track_file') && st.children && name) {
      // track_file since keepalived 2.1.0; vrrp_track_file is its older, deprecated spelling.
      const f = simpleBlock(st, scalar);
      if (f && trackFileSchema.safeParse(f).success) cfg.blocks.set(`file ${name}`, { field: 'vrrp_track_files', name, value: f, st });
      else keep(st);
    } else if (st.keyword === 'static_ipaddress' && st.children && st.args.length === 0) {
      cfg.blocks.set('static_ipaddress', { field: 'static_ipaddress', value: vipList(st), st });
    } else if ((st.keyword === 'static_routes' || st.keyword === 'static_rules') && st.children && st.args.length === 0) {
      cfg.blocks.set(st.keyword, { field: st.keyword, value: lines(st), st });
    } else keep(st);
  }
  return cfg;
}

const envName = (instance: string) => `KA_AUTH_PASS_${instance.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;

export function importConfigs(sources: ImportSource[], addresses: Record<string, string> = {}, fallbackAddresses: Record<string, string> = {}): ImportResult {
  if (sources.length === 0) throw new ImportError('import needs at least one NAME=FILE');
  const notes: string[] = [];
  const cfgs = sources.map((s) => readTop(s, notes));
  const secrets: Record<string, string> = {};
  const inv: Obj = {};

  // Instances: the same names on every node (a kadeploy node runs every instance of its cluster).
  const names = [...cfgs[0]!.instances.keys()];
  if (names.length === 0) throw new ImportError(`${sources[0]!.file}: no vrrp_instance (kadeploy deploys VRRP clusters)`);
  for (const cfg of cfgs) {
    for (const n of names) if (!cfg.instances.has(n)) throw new ImportError(`${cfg.src.file}: no vrrp_instance ${n}, which ${cfgs[0]!.src.file} has (every node must run every instance)`);
    for (const [n, i] of cfg.instances) if (!names.includes(n)) throw new ImportError(`${at(i.st)}: vrrp_instance ${n} is not on ${cfgs[0]!.src.node} (every node must run every instance)`);
  }

  // Node addresses: --address, else unicast_src_ip, else mcast_src_ip.
  const nodeAddress = cfgs.map((cfg) => {
    const given = addresses[cfg.src.node];
    if (given !== undefined) {
      if (!parseCidr(given)) throw new ImportError(`--address ${cfg.src.node}=${given}: not an IP address`);
      return given;
    }
    for (const i of cfg.instances.values()) {
      const ip = (i.value.unicast_src_ip ?? i.value.mcast_src_ip) as string | undefined;
      if (ip && parseCidr(ip)) return ip;
    }
    const fallback = fallbackAddresses[cfg.src.node];
    if (fallback && parseCidr(fallback)) return fallback;
    throw new ImportError(`${cfg.src.file}: node ${cfg.src.node} has no unicast_src_ip or mcast_src_ip to take its address from: give --address ${cfg.src.node}=IP`);
  });

  // global_defs: equal everywhere → cluster; else per node.
  const gd = mergeFields(cfgs.map((c) => c.globalDefs));
  const gdVerbatim = cfgs.map((c) => c.globalVerbatim.join('\n'));
  if (Object.keys(gd.cluster).length || (gdVerbatim[0] && gdVerbatim.every((v) => v === gdVerbatim[0]))) {
    inv.global_defs = { ...gd.cluster, ...(gdVerbatim[0] && gdVerbatim.every((v) => v === gdVerbatim[0]) ? { verbatim: gdVerbatim[0] } : {}) };
  }

  // vrrp_scripts: a script on every node → cluster, differing fields per node; else verbatim.
  const scriptNames = [...new Set(cfgs.flatMap((c) => [...c.scripts.keys()]))];
  const nodeScripts: Array<Record<string, Obj>> = cfgs.map(() => ({}));
  const scripts: Obj = {};
  for (const name of scriptNames) {
    const values = cfgs.map((c) => c.scripts.get(name));
    const keys = new Set(values.flatMap((v) => Object.keys(v ?? {})));
    if (values.some((v) => !v || [...keys].some((k) => !(k in v)))) {
      // Not the same shape everywhere: each node keeps its own text.
      cfgs.forEach((c) => {
        const st = c.src.statements.find((s) => s.keyword === 'vrrp_script' && s.args[0] === name);
        if (st) c.verbatim.push(statementText(st));
        c.scripts.delete(name);
      });
      continue;
    }
    const m = mergeFields(values as Obj[], ['script']);
    scripts[name] = m.cluster;
    m.perNode.forEach((o, k) => {
      if (Object.keys(o).length) nodeScripts[k]![name] = o;
    });
  }
  if (Object.keys(scripts).length) inv.vrrp_scripts = scripts;

  // Other typed top-level blocks: identical everywhere → typed; else each node keeps its text.
  const blockKeys = [...new Set(cfgs.flatMap((c) => [...c.blocks.keys()]))];
  for (const key of blockKeys) {
    const values = cfgs.map((c) => c.blocks.get(key));
    if (values.every((v) => v && same(v.value, values[0]!.value))) {
      const b = values[0]!;
      if (b.name) inv[b.field] = { ...(inv[b.field] as Obj | undefined), [b.name]: b.value };
      else inv[b.field] = b.value;
    } else {
      cfgs.forEach((c) => {
        const b = c.blocks.get(key);
        if (b) c.verbatim.push(statementText(b.st));
      });
    }
  }

  // Instances.
  const instances: Obj = {};
  const nodeInstances: Array<Record<string, Obj>> = cfgs.map(() => ({}));
  for (const name of names) {
    const views = cfgs.map((c) => c.instances.get(name)!);
    const first = views[0]!;
    for (const v of views) {
      if (!same(v.value.virtual_router_id, first.value.virtual_router_id)) {
        throw new ImportError(`${at(v.st)}: vrrp_instance ${name} has virtual_router_id ${v.value.virtual_router_id} here but ${first.value.virtual_router_id} on ${cfgs[0]!.src.node}`);
      }
      if (!same(v.value.authentication, first.value.authentication) || v.pass?.slice(0, 8) !== first.pass?.slice(0, 8)) {
        throw new ImportError(`${at(v.passAt ?? v.st)}: vrrp_instance ${name}: authentication differs from ${cfgs[0]!.src.node}'s (VRRP needs the same on every node)`);
      }
    }
    if (first.value.virtual_router_id === undefined) throw new ImportError(`${at(first.st)}: vrrp_instance ${name} has no virtual_router_id`);
    if (!first.value.virtual_ipaddresses) throw new ImportError(`${at(first.st)}: vrrp_instance ${name} has no virtual_ipaddress (kadeploy deploys VIPs)`);
    if (first.pass !== undefined) {
      const env = envName(name);
      if (first.pass.length > 8) {
        notes.push(`${at(first.passAt!)}: auth_pass of ${name} is ${first.pass.length} characters; keepalived uses only the first 8, so ${env} must hold those 8 (same behaviour, now explicit)`);
      }
      secrets[env] = first.pass.slice(0, 8);
      for (const v of views) (v.value.authentication as Obj).auth_pass = { env };
      notes.push(`vrrp_instances.${name}.authentication.auth_pass reads the environment variable ${env}: set it (the value in the files) before validate, render or apply`);
    }

    // unicast_src_ip = node address and peers = every other node's → `unicast: true`.
    const derived = views.every((v, k) => {
      const peers = v.value.unicast_peers as string[] | undefined;
      const others = nodeAddress.filter((_, j) => j !== k).map((a) => parseCidr(a)!.ip);
      return v.value.unicast_src_ip === parseCidr(nodeAddress[k]!)!.ip && !!peers && same([...peers].sort(), [...others].sort()) && peers.length === others.length;
    });
    const values = views.map((v) => {
      const o = { ...v.value };
      delete o.state;
      delete o.priority;
      if (derived) {
        delete o.unicast_src_ip;
        delete o.unicast_peers;
        o.unicast = true;
      }
      if (v.verbatim.length) o.verbatim = v.verbatim.join('\n');
      return o;
    });
    const m = mergeFields(values, ['virtual_router_id', 'virtual_ipaddresses']);
    instances[name] = m.cluster;
    views.forEach((v, k) => {
      const own: Obj = { ...m.perNode[k] };
      if (v.value.state !== undefined) own.state = v.value.state;
      else own.state = 'BACKUP';
      if (v.value.priority !== undefined) own.priority = v.value.priority;
      else own.priority = 100;
      nodeInstances[k]![name] = own;
    });
  }
  inv.vrrp_instances = instances;

  const verbatim = cfgs.map((c) => c.verbatim.join('\n\n'));
  const sharedVerbatim = verbatim.every((v) => v === verbatim[0]) ? verbatim[0] : undefined;
  if (sharedVerbatim) inv.verbatim = sharedVerbatim;
  if (cfgs.some((c) => c.verbatim.length)) notes.push('statements kadeploy has no field for are kept in verbatim blocks: keepalived -t checks them on each node before they are installed');

  inv.nodes = cfgs.map((cfg, k) => {
    const node: Obj = { name: cfg.src.node, address: nodeAddress[k] };
    // state and priority shared by every instance of the node sit on the node itself.
    const own = nodeInstances[k]!;
    const states = new Set(Object.values(own).map((o) => o.state));
    const prios = new Set(Object.values(own).map((o) => o.priority));
    if (states.size === 1) node.state = [...states][0];
    if (prios.size === 1) node.priority = [...prios][0];
    const overrides: Obj = {};
    for (const [n, o] of Object.entries(own)) {
      const rest: Obj = { ...o };
      if (states.size === 1) delete rest.state;
      if (prios.size === 1) delete rest.priority;
      if (Object.keys(rest).length) overrides[n] = rest;
    }
    if (Object.keys(overrides).length) node.instances = overrides;
    if (Object.keys(gd.perNode[k]!).length || (gdVerbatim[k] && !gdVerbatim.every((v) => v === gdVerbatim[0]))) {
      node.global_defs = { ...gd.perNode[k], ...(gdVerbatim[k] && !gdVerbatim.every((v) => v === gdVerbatim[0]) ? { verbatim: gdVerbatim[k] } : {}) };
    }
    if (Object.keys(nodeScripts[k]!).length) node.vrrp_scripts = nodeScripts[k];
    if (!sharedVerbatim && verbatim[k]) node.verbatim = verbatim[k];
    return node;
  });
  return { inventory: inv, notes, secrets };
}

/**
 * Cluster vs node values: a field equal on every node is a cluster value; otherwise each node that has
 * it gets it as its own (fields in `required` keep the first node's value at cluster level as well).
 */
function mergeFields(values: Obj[], required: string[] = []): { cluster: Obj; perNode: Obj[] } {
  const cluster: Obj = {};
  const perNode: Obj[] = values.map(() => ({}));
  const keys = [...new Set(values.flatMap((v) => Object.keys(v)))];
  for (const key of keys) {
    const first = values[0]![key];
    if (values.every((v) => key in v && same(v[key], first))) cluster[key] = first;
    else {
      if (required.includes(key)) cluster[key] = first;
      values.forEach((v, k) => {
        if (key in v && !(required.includes(key) && same(v[key], first))) perNode[k]![key] = v[key];
      });
    }
  }
  return { cluster, perNode };
}
