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
const port = z.number().int().min(1).max(65535);
const seconds = z.number().positive();

/** A secret is given inline, or read from an environment variable or a file (preferred). */
export const secretSchema = z.union([
  z.string().min(1),
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name') }),
  z.strictObject({ file: z.string().min(1) }),
]);

export const sshSchema = z.strictObject({
  host: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'must be a host name or address').optional(),
  user: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must be a user name').optional(),
  port: port.optional(),
  identity_file: z.string().min(1).optional(),
  known_hosts: z.string().min(1).optional(),
  host_key_policy: z.enum(['strict', 'accept-new']).optional(),
  use_agent: z.boolean().optional(),
  sudo: z.boolean().optional(),
  sudo_password: secretSchema.optional(),
  proxy_jump: z.string().regex(/^([A-Za-z0-9_.-]+@)?[A-Za-z0-9_.:-]+$/, 'must be [user@]host[:port]').optional(),
  connect_timeout: seconds.optional(),
  command_timeout: seconds.optional(),
});

export const globalDefsSchema = z.strictObject({
  router_id: name.optional(),
  notification_email: z.array(email).optional(),
  notification_email_from: email.optional(),
  smtp_server: ip.optional(),
  smtp_connect_timeout: z.number().int().min(1).optional(),
  enable_script_security: z.boolean().optional(),
  script_user: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must be a user name').optional(),
  vrrp_skip_check_adv_addr: z.boolean().optional(),
  // keepalived 2.2 rejects 0 (the value Kolla writes for "no delay", which is the default anyway).
  vrrp_garp_interval: z.number().min(0.000001, 'must be above 0; omit it for no delay').max(4294).optional(),
  vrrp_gna_interval: z.number().min(0.000001, 'must be above 0; omit it for no delay').max(4294).optional(),
  vrrp_version: z.union([z.literal(2), z.literal(3)]).optional(),
  lvs_sync_daemon: iface.optional(),
});

export const vrrpScriptSchema = z.strictObject({
  script: command,
  interval: seconds.optional(),
  timeout: seconds.optional(),
  weight: z.number().int().min(-253).max(253).optional(),
  rise: z.number().int().min(1).optional(),
  fall: z.number().int().min(1).optional(),
  user: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must be a user name').optional(),
});

export const vipSchema = z.union([
  ipOrCidr,
  z.strictObject({
    address: ipOrCidr,
    brd: ip.optional(),
    scope: z.enum(['global', 'site', 'link', 'host', 'nowhere']).optional(),
    dev: iface.optional(),
    label: z.string().regex(/^[A-Za-z0-9_.:-]{1,15}$/, 'must be an address label').optional(),
  }),
]);

const state = z.enum(['MASTER', 'BACKUP']);
const priority = z.number().int().min(1).max(255);

export const instanceSchema = z.strictObject({
  virtual_router_id: z.number().int().min(1).max(255),
  interface: iface.optional(),
  advert_int: z.number().positive().optional(),
  authentication: z
    .strictObject({ auth_type: z.enum(['PASS', 'AH']).optional(), auth_pass: secretSchema })
    .optional(),
  virtual_ipaddresses: z.array(vipSchema).min(1),
  track_scripts: z.array(name).optional(),
  track_interfaces: z.array(iface).optional(),
  nopreempt: z.boolean().optional(),
  preempt_delay: z.number().min(0).max(1000).optional(),
  notify_master: command.optional(),
  notify_backup: command.optional(),
  notify_fault: command.optional(),
  notify: command.optional(),
  unicast: z.boolean().optional(),
  lvs_sync_daemon_interface: iface.optional(),
  garp_master_delay: z.number().int().min(0).optional(),
});

export const nodeInstanceSchema = z.strictObject({
  state: state.optional(),
  priority: priority.optional(),
  interface: iface.optional(),
});

export const nodeSchema = z.strictObject({
  name,
  address: ipOrCidr,
  ssh: sshSchema.optional(),
  interface: iface.optional(),
  state: state.optional(),
  priority: priority.optional(),
  lvs_sync_daemon_interface: iface.optional(),
  instances: z.record(name, nodeInstanceSchema).optional(),
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
  /** Whether kadeploy lets VRRP through an active firewall on the nodes (src/tasks/firewall.ts). */
  firewall: z.enum(['manage', 'check', 'off']).optional(),
  templates_dir: z.string().min(1).optional(),
  vars: z.record(z.string(), z.unknown()).optional(),
  global_defs: globalDefsSchema.optional(),
  vrrp_scripts: z.record(name, vrrpScriptSchema).optional(),
  vrrp_instances: z.record(name, instanceSchema).refine((r) => Object.keys(r).length > 0, 'at least one instance'),
  files: z.array(fileSchema).optional(),
  nodes: z.array(nodeSchema).min(1),
});

export type RawInventory = z.infer<typeof inventorySchema>;
export type RawInstance = z.infer<typeof instanceSchema>;
export type RawNode = z.infer<typeof nodeSchema>;
export type RawVip = z.infer<typeof vipSchema>;
export type Secret = z.infer<typeof secretSchema>;
