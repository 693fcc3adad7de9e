// The inventory's shape (zod). Strict objects everywhere: an unknown key is an error, never ignored.
// Cluster-wide rules (priorities, MASTER count, subnets…) live in rules.ts; defaults in defaults.ts.
import { z } from 'zod';
import { parseCidr } from './ip.js';

/** Interface, instance and script names reach keepalived.conf and shells: keep them to a safe alphabet. */
const IFACE = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** keepalived runs scripts without a shell and writes them in double quotes: no metacharacters, no
 * control or invisible characters (they could hide what runs). */
const COMMAND = /^[^;&|`$<>"'\\(){}*?![\]~#\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]+$/;

/**
 * Options of kadeploy's parses (one per run): without zod's fast path, which compiles a parser with
 * `new Function` for each object schema on first use — more work than one small document saves, and
 * code that the start-up code cache cannot keep.
 */
export const PARSE_ONCE = { jitless: true } as const;

const iface = z.string().regex(IFACE, 'must be an interface name (letters, digits, _ . @ -; at most 15 characters)');
const name = z.string().regex(NAME, 'must be a name of letters, digits, _ . - (no spaces or shell characters)');
const command = z
  .string()
  .min(1)
  .regex(COMMAND, 'must be a plain command with arguments (no shell metacharacters, quotes or newlines)');
const ip = z.string().refine((s) => parseCidr(s)?.prefix === undefined && !!parseCidr(s), 'must be an IP address');
const ipOrCidr = z.string().refine((s) => !!parseCidr(s), 'must be an IP address, optionally with /prefix');
// Mail addresses end up in keepalived.conf: any user@host without spaces or quotes (hosts need no TLD).
const email = z.string().regex(/^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$/, 'must be an email address like user@host');
// keepalived also takes a local user name as a recipient (its own samples do).
const recipient = z.string().regex(/^[A-Za-z0-9._%+-]+(@[A-Za-z0-9.-]+)?$/, 'must be an email address like user@host, or a local user');
const port = z.number().int().min(1).max(65535);
/** A route or rule line as `ip route`/`ip rule` take it (keepalived passes it on word by word): no quotes,
 * braces, comment characters or shell metacharacters. */
const routeLine = z
  .string()
  .regex(/^[A-Za-z0-9_.:/@-]+( [A-Za-z0-9_.:/@-]+)*$/, 'must be words of letters, digits, _ . : / @ - separated by single spaces');
/** Raw keepalived.conf text kadeploy keeps as written: braces must balance (it cannot close kadeploy's own
 * blocks), no `include` (files are kadeploy's to manage); `keepalived -t` on the node judges the rest. */
export const verbatim = z
  .string()
  .min(1)
  .refine((s) => balancedBraces(s), 'must have balanced { } (outside quotes and comments)')
  .refine((s) => !/^\s*include\b/m.test(s), 'must not use include (list the statements themselves)')
  .refine((s) => !/[\x00-\x08\x0b-\x1f\x7f]/.test(s), 'must not contain control characters');

export function balancedBraces(text: string): boolean {
  let depth = 0;
  for (const line of text.split('\n')) {
    let quoted = false;
    for (const ch of line) {
      if (ch === '"') quoted = !quoted;
      else if (!quoted && (ch === '#' || ch === '!')) break;
      else if (!quoted && ch === '{') depth++;
      else if (!quoted && ch === '}' && --depth < 0) return false;
    }
  }
  return depth === 0;
}
const weight = z.number().int().min(-254).max(254);
/** A tracked object, by name, with an optional weight that overrides the object's own. */
const tracked = <T extends z.ZodType<string>>(nameSchema: T) => z.union([nameSchema, z.strictObject({ name: nameSchema, weight: weight.optional() })]);
const seconds = z.number().positive();

// Optional fields of the same type share one schema (zod schemas are immutable): every instance is
// built at each start, and each chained call (.int(), .min(), .optional()) makes another
// (bench/README.md, "No-op cuts").
const flag = z.boolean().optional();
const count = z.number().int().min(1).optional();
const positive = z.number().positive().optional();
const byte = z.number().int().min(0).max(255).optional();
const oneTo255 = z.number().int().min(1).max(255).optional();
const nonEmpty = z.string().min(1).optional();
const userName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must be a user name').optional();
const optionalCommand = command.optional();
const optionalIface = iface.optional();
const optionalIp = ip.optional();
const optionalWeight = weight.optional();
const optionalSeconds = seconds.optional();
const optionalVerbatim = verbatim.optional();
const routeLines = z.array(routeLine).optional();
const garpInterval = z.number().min(0.000001, 'must be above 0; omit it for no delay').max(4294).optional();
const toSeconds = z.number().int().min(0).max(3600).optional();

/** A secret is given inline, or read from an environment variable or a file (preferred). */
export const secretSchema = z.union([
  z.string().min(1),
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name') }),
  z.strictObject({ file: z.string().min(1) }),
]);

export const sshSchema = z.strictObject({
  host: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'must be a host name or address').optional(),
  user: userName,
  port: port.optional(),
  identity_file: nonEmpty,
  known_hosts: nonEmpty,
  host_key_policy: z.enum(['strict', 'accept-new']).optional(),
  use_agent: flag,
  sudo: flag,
  sudo_password: secretSchema.optional(),
  proxy_jump: z.string().regex(/^([A-Za-z0-9_.-]+@)?[A-Za-z0-9_.:-]+$/, 'must be [user@]host[:port]').optional(),
  connect_timeout: optionalSeconds,
  command_timeout: optionalSeconds,
});

export const globalDefsSchema = z.strictObject({
  router_id: name.optional(),
  notification_email: z.array(recipient).optional(),
  notification_email_from: email.optional(),
  smtp_server: optionalIp,
  smtp_connect_timeout: count,
  enable_script_security: flag,
  script_user: userName,
  vrrp_skip_check_adv_addr: flag,
  // keepalived 2.2 rejects 0 (the value Kolla writes for "no delay", which is the default anyway).
  vrrp_garp_interval: garpInterval,
  vrrp_gna_interval: garpInterval,
  vrrp_version: z.union([z.literal(2), z.literal(3)]).optional(),
  lvs_sync_daemon: optionalIface,
  script_group: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must be a group name').optional(),
  vrrp_strict: flag,
  vrrp_garp_master_delay: byte,
  vrrp_garp_master_repeat: oneTo255,
  vrrp_garp_master_refresh: count,
  vrrp_garp_master_refresh_repeat: oneTo255,
  vrrp_startup_delay: z.number().positive().max(3600).optional(),
  max_auto_priority: z.number().int().min(0).max(99).optional(),
  default_interface: optionalIface,
  /** true: keepalived's own chain names; or one or two chain names (in [out]). */
  vrrp_iptables: z.union([z.literal(true), z.array(z.string().regex(/^[A-Za-z0-9_-]{1,28}$/, 'must be a chain name')).min(1).max(2)]).optional(),
  /** true: keepalived's default table; or a table name. Debian's keepalived uses nftables, not iptables. */
  nftables: z.union([z.literal(true), z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be a table name')]).optional(),
  verbatim: optionalVerbatim,
});

export const vrrpScriptSchema = z.strictObject({
  script: command,
  // keepalived 2.2 reads interval as whole seconds and rejects "1.5".
  interval: z.number().int('must be whole seconds (keepalived rejects a fractional interval)').min(1).optional(),
  timeout: optionalSeconds,
  weight: z.number().int().min(-253).max(253).optional(),
  rise: count,
  fall: count,
  user: userName,
});

export const vipSchema = z.union([
  ipOrCidr,
  z.strictObject({
    address: ipOrCidr,
    brd: optionalIp,
    scope: z.enum(['global', 'site', 'link', 'host', 'nowhere']).optional(),
    dev: optionalIface,
    label: z.string().regex(/^[A-Za-z0-9_.:-]{1,15}$/, 'must be an address label').optional(),
  }),
]);

export const trackProcessSchema = z.strictObject({
  process: z.string().regex(/^[A-Za-z0-9_.\/+-]{1,255}$/, 'must be a process name or path'),
  param_match: z.enum(['initial', 'partial']).optional(),
  weight: optionalWeight,
  reverse: flag,
  quorum: count,
  quorum_max: count,
  delay: positive,
  terminate_delay: positive,
  fork_delay: positive,
  full_command: flag,
});

export const trackFileSchema = z.strictObject({
  file: z.string().regex(/^\/[A-Za-z0-9_.\/-]+$/, 'must be an absolute path of letters, digits, _ . - /'),
  weight: optionalWeight,
  reverse: flag,
  /** Create the file at start if missing, with this value (true: 0). */
  init_file: z.union([z.literal(true), z.number().int()]).optional(),
});

const trackedNames = z.array(tracked(name)).optional();
const trackedSets = {
  track_interfaces: z.array(tracked(iface)).optional(),
  track_scripts: trackedNames,
  track_processes: trackedNames,
  track_files: trackedNames,
};

export const syncGroupSchema = z.strictObject({
  // keepalived -t refuses a group of one ("probably isn't what you want").
  group: z.array(name).min(2, 'needs at least 2 instances (keepalived -t refuses a group of one)'),
  notify_master: optionalCommand,
  notify_backup: optionalCommand,
  notify_fault: optionalCommand,
  notify_stop: optionalCommand,
  notify: optionalCommand,
  smtp_alert: flag,
  global_tracking: flag,
  /** Let members keep their tracking weights (keepalived otherwise ignores them, and -t fails). */
  sync_group_tracking_weight: flag,
  ...trackedSets,
});

const state = z.enum(['MASTER', 'BACKUP']);
const priority = z.number().int().min(1).max(255);

export const instanceSchema = z.strictObject({
  virtual_router_id: z.number().int().min(1).max(255),
  interface: optionalIface,
  advert_int: positive,
  authentication: z
    .strictObject({ auth_type: z.enum(['PASS', 'AH']).optional(), auth_pass: secretSchema })
    .optional(),
  virtual_ipaddresses: z.array(vipSchema).min(1),
  virtual_ipaddress_excluded: z.array(vipSchema).optional(),
  ...trackedSets,
  nopreempt: flag,
  preempt_delay: z.number().min(0).max(1000).optional(),
  notify_master: optionalCommand,
  notify_backup: optionalCommand,
  notify_fault: optionalCommand,
  notify: optionalCommand,
  notify_stop: optionalCommand,
  smtp_alert: flag,
  /** true: unicast_src_ip is the node's address on the instance's interface, unicast_peer every other node's. */
  unicast: flag,
  unicast_src_ip: optionalIp,
  unicast_peers: z.array(ip).optional(),
  mcast_src_ip: optionalIp,
  /** true renders `accept`, false `no_accept`. */
  accept: flag,
  /** true: keepalived names the VMAC interface; or a name for it. */
  use_vmac: z.union([z.literal(true), iface]).optional(),
  vmac_xmit_base: flag,
  native_ipv6: flag,
  dont_track_primary: flag,
  version: z.union([z.literal(2), z.literal(3)]).optional(),
  lvs_sync_daemon_interface: optionalIface,
  garp_master_delay: byte,
  garp_master_repeat: oneTo255,
  garp_master_refresh: count,
  garp_master_refresh_repeat: oneTo255,
  virtual_routes: routeLines,
  virtual_rules: routeLines,
  verbatim: optionalVerbatim,
});

/** A node's view of one instance: its state and priority, and any instance field it overrides. */
export const nodeInstanceSchema = instanceSchema
  .omit({ virtual_router_id: true, authentication: true })
  .partial()
  .extend({ state: state.optional(), priority: priority.optional() });

export const nodeSchema = z.strictObject({
  name,
  address: ipOrCidr,
  ssh: sshSchema.optional(),
  interface: optionalIface,
  state: state.optional(),
  priority: priority.optional(),
  lvs_sync_daemon_interface: optionalIface,
  /** The node's address on other interfaces (the main `address` is on its first instance's interface). */
  addresses: z.record(iface, ipOrCidr).optional(),
  instances: z.record(name, nodeInstanceSchema).optional(),
  global_defs: globalDefsSchema.partial().optional(),
  vrrp_scripts: z.record(name, vrrpScriptSchema.partial()).optional(),
  verbatim: optionalVerbatim,
  vars: z.record(z.string(), z.unknown()).optional(),
});

export const fileSchema = z.strictObject({
  path: z.string().regex(/^\/[A-Za-z0-9_./-]+$/, 'must be an absolute path of letters, digits, _ . - /'),
  template: z.string().regex(/^[A-Za-z0-9_.\/-]+$/, 'must be a template file name').optional(),
  content: z.string().optional(),
  mode: z.string().regex(/^0?[0-7]{3}$/, 'must be an octal mode like "0755"').optional(),
});

export const inventorySchema = z.strictObject({
  ssh: sshSchema.optional(),
  forks: z.number().int().min(1).max(500).optional(),
  apt_proxy: z.url({ protocol: /^https?$/ }).optional(),
  /** Seconds an install waits for apt's and dpkg's locks held by another process (default 180; src/ops/package.ts). */
  package_lock_timeout: toSeconds,
  /** Seconds a run waits, before any change, for a node that is booting or shutting down/rebooting (default 300; src/apply/node-wait.ts). */
  node_wait_timeout: toSeconds,
  /** Whether kadeploy lets VRRP through an active firewall on the nodes (src/tasks/firewall.ts). */
  firewall: z.enum(['manage', 'check', 'off']).optional(),
  /** A named set of fields for failover speed (src/inventory/failover-profile.ts); fields set here win. */
  failover: z.enum(['fast', 'default']).optional(),
  templates_dir: nonEmpty,
  vars: z.record(z.string(), z.unknown()).optional(),
  global_defs: globalDefsSchema.optional(),
  vrrp_scripts: z.record(name, vrrpScriptSchema).optional(),
  vrrp_track_processes: z.record(name, trackProcessSchema).optional(),
  vrrp_track_files: z.record(name, trackFileSchema).optional(),
  vrrp_sync_groups: z.record(name, syncGroupSchema).optional(),
  static_ipaddress: z.array(vipSchema).optional(),
  static_routes: routeLines,
  static_rules: routeLines,
  /** Raw top-level keepalived.conf text (LVS virtual_server blocks, anything kadeploy has no field for). */
  verbatim: optionalVerbatim,
  vrrp_instances: z.record(name, instanceSchema).refine((r) => Object.keys(r).length > 0, 'at least one instance'),
  files: z.array(fileSchema).optional(),
  nodes: z.array(nodeSchema).min(1),
});

/** One cluster of a fleet: any top-level setting (overriding the shared one), its own instances and nodes,
 * and the network segment its VRRP runs on when the node addresses carry no /prefix. */
export const clusterSchema = inventorySchema.extend({ segment: name.optional() });

/** A fleet: the shared settings at the top, the clusters under `clusters:` (src/inventory/fleet.ts). */
export const fleetSchema = inventorySchema
  .omit({ vrrp_instances: true, nodes: true })
  .extend({ clusters: z.record(name, clusterSchema).refine((r) => Object.keys(r).length > 0, 'at least one cluster') });

export type RawInventory = z.infer<typeof inventorySchema>;
export type RawCluster = z.infer<typeof clusterSchema>;
export type RawFleet = z.infer<typeof fleetSchema>;
export type RawInstance = z.infer<typeof instanceSchema>;
export type RawNode = z.infer<typeof nodeSchema>;
export type RawVip = z.infer<typeof vipSchema>;
export type RawGlobalDefs = z.infer<typeof globalDefsSchema>;
export type RawSyncGroup = z.infer<typeof syncGroupSchema>;
export type RawTracked = string | { name: string; weight?: number };
export type Secret = z.infer<typeof secretSchema>;
