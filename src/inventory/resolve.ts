// Raw (validated) inventory → resolved Cluster: defaults applied, node overrides merged, secrets read.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { DEFAULTS } from './defaults.js';
import { parseCidr } from './ip.js';
import type { Cluster, NodeInstance, NodeSpec, SshSettings, Vip, VrrpState } from './model.js';
import type { RuleIssue } from './rules.js';
import type { RawInventory, RawNode, Secret } from './schema.js';
import type { FieldPath } from './source.js';

const AUTH_PASS = /^[\x21-\x7e]+$/;
const AUTH_PASS_FORBIDDEN = /["#!$\\`{}]/;

/** `~/x` and paths relative to the inventory's directory become absolute. */
export function expandPath(path: string, baseDir: string): string {
  if (path === '~' || path.startsWith('~/')) return homedir() + path.slice(1);
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

export function resolveCluster(
  inv: RawInventory,
  file: string,
  env: NodeJS.ProcessEnv,
): { cluster: Cluster; issues: RuleIssue[] } {
  const issues: RuleIssue[] = [];
  const baseDir = dirname(file);
  const secrets: string[] = [];

  const readSecret = (secret: Secret, path: FieldPath): string => {
    let value: string | undefined;
    if (typeof secret === 'string') value = secret;
    else if ('env' in secret) {
      value = env[secret.env];
      if (value === undefined || value === '') issues.push({ path, severity: 'error', message: `environment variable ${secret.env} is not set` });
    } else {
      const secretFile = expandPath(secret.file, baseDir);
      try {
        value = readFileSync(secretFile, 'utf8').replace(/\r?\n$/, '');
      } catch (e) {
        issues.push({ path, severity: 'error', message: `cannot read secret file ${secretFile}: ${(e as NodeJS.ErrnoException).code ?? e}` });
      }
    }
    if (value) secrets.push(value);
    return value ?? '';
  };

  const gd = inv.global_defs ?? {};
  const cluster: Cluster = {
    file,
    forks: inv.forks ?? DEFAULTS.forks,
    aptProxy: inv.apt_proxy,
    firewall: inv.firewall ?? DEFAULTS.firewall,
    templatesDir: inv.templates_dir ? expandPath(inv.templates_dir, baseDir) : undefined,
    vars: inv.vars ?? {},
    globalDefs: {
      routerId: gd.router_id,
      notificationEmail: gd.notification_email ?? [],
      notificationEmailFrom: gd.notification_email_from,
      smtpServer: gd.smtp_server,
      smtpConnectTimeout: gd.smtp_connect_timeout,
      enableScriptSecurity: gd.enable_script_security ?? DEFAULTS.global_defs.enable_script_security,
      scriptUser: gd.script_user ?? DEFAULTS.global_defs.script_user,
      vrrpSkipCheckAdvAddr: gd.vrrp_skip_check_adv_addr ?? false,
      vrrpGarpInterval: gd.vrrp_garp_interval,
      vrrpGnaInterval: gd.vrrp_gna_interval,
      vrrpVersion: gd.vrrp_version,
      lvsSyncDaemon: gd.lvs_sync_daemon,
    },
    vrrpScripts: Object.entries(inv.vrrp_scripts ?? {}).map(([name, s]) => ({ name, ...s })),
    files: (inv.files ?? []).map((f) => ({ ...f, mode: f.mode ?? DEFAULTS.file_mode })),
    nodes: [],
    secrets,
  };

  // Secrets are read once per instance, then shared by every node's view of it.
  const passes = new Map<string, string>();
  for (const [name, inst] of Object.entries(inv.vrrp_instances)) {
    const auth = inst.authentication;
    if (!auth) continue;
    const path = ['vrrp_instances', name, 'authentication', 'auth_pass'];
    const pass = readSecret(auth.auth_pass, path);
    if (typeof auth.auth_pass !== 'string' && pass.length > 8) {
      issues.push({ path, severity: 'error', message: `is ${pass.length} characters; keepalived uses only the first 8 (silent truncation)` });
    }
    // keepalived.conf has no quoting: a space ends the word, # and ! start a comment.
    if (pass && (!AUTH_PASS.test(pass) || AUTH_PASS_FORBIDDEN.test(pass))) {
      issues.push({ path, severity: 'error', message: 'must be printable ASCII without spaces or any of " # ! $ \\ ` { } (keepalived.conf cannot quote them)' });
    }
    passes.set(name, pass);
  }
  const clusterSudoPassword = inv.ssh?.sudo_password ? readSecret(inv.ssh.sudo_password, ['ssh', 'sudo_password']) : undefined;

  cluster.nodes = inv.nodes.map((node, i): NodeSpec => {
    const addr = parseCidr(node.address)!;
    const sudoPassword = node.ssh?.sudo_password
      ? readSecret(node.ssh.sudo_password, ['nodes', i, 'ssh', 'sudo_password'])
      : clusterSudoPassword;
    return {
      name: node.name,
      ip: addr.ip,
      prefix: addr.prefix,
      ssh: sshSettings(inv, node, addr.ip, baseDir, sudoPassword),
      instances: Object.entries(inv.vrrp_instances).map(([name, inst]): NodeInstance => {
        const own = node.instances?.[name] ?? {};
        return {
          name,
          virtualRouterId: inst.virtual_router_id,
          interface: own.interface ?? node.interface ?? inst.interface ?? DEFAULTS.instance.interface,
          state: (own.state ?? node.state) as VrrpState,
          priority: (own.priority ?? node.priority) as number,
          advertInt: inst.advert_int ?? DEFAULTS.instance.advert_int,
          authentication: inst.authentication
            ? { type: inst.authentication.auth_type ?? 'PASS', pass: passes.get(name) ?? '' }
            : undefined,
          vips: inst.virtual_ipaddresses.map((v): Vip => (typeof v === 'string' ? { address: v } : { ...v })),
          trackScripts: inst.track_scripts ?? [],
          trackInterfaces: inst.track_interfaces ?? [],
          nopreempt: inst.nopreempt ?? false,
          preemptDelay: inst.preempt_delay,
          notifyMaster: inst.notify_master,
          notifyBackup: inst.notify_backup,
          notifyFault: inst.notify_fault,
          notify: inst.notify,
          unicast: inst.unicast
            ? { srcIp: addr.ip, peers: inv.nodes.filter((n) => n !== node).map((n) => parseCidr(n.address)!.ip) }
            : undefined,
          lvsSyncDaemonInterface: node.lvs_sync_daemon_interface ?? inst.lvs_sync_daemon_interface,
          garpMasterDelay: inst.garp_master_delay,
        };
      }),
      vars: { ...(inv.vars ?? {}), ...(node.vars ?? {}) },
    };
  });

  return { cluster, issues };
}

/** Node SSH settings: node.ssh over inventory ssh over defaults. */
function sshSettings(inv: RawInventory, node: RawNode, ip: string, baseDir: string, sudoPassword?: string): SshSettings {
  const s = { ...inv.ssh, ...node.ssh };
  const d = DEFAULTS.ssh;
  return {
    host: s.host ?? ip,
    port: s.port ?? d.port,
    user: s.user ?? d.user,
    identityFile: s.identity_file ? expandPath(s.identity_file, baseDir) : undefined,
    knownHosts: expandPath(s.known_hosts ?? d.known_hosts, baseDir),
    hostKeyPolicy: s.host_key_policy ?? d.host_key_policy,
    useAgent: s.use_agent ?? true,
    sudo: s.sudo ?? d.sudo,
    sudoPassword,
    proxyJump: s.proxy_jump,
    connectTimeoutMs: (s.connect_timeout ?? d.connect_timeout) * 1000,
    commandTimeoutMs: (s.command_timeout ?? d.command_timeout) * 1000,
    explicit: {
      user: s.user !== undefined,
      port: s.port !== undefined,
      identityFile: s.identity_file !== undefined,
      host: s.host !== undefined,
    },
  };
}
