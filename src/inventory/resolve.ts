// Raw (validated) inventory → resolved Cluster: defaults applied, node overrides merged, secrets read.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { DEFAULTS } from './defaults.js';
import { parseCidr } from './ip.js';
import type { Cluster, GlobalDefs, NodeInstance, NodeSpec, SshSettings, Tracked, Vip, VrrpScript, VrrpState } from './model.js';
import { addressOn, instanceView } from './node-view.js';
import type { RuleIssue } from './rules.js';
import type { RawGlobalDefs, RawInventory, RawNode, RawTracked, RawVip, Secret } from './schema.js';
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
  name = '',
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

  const cluster: Cluster = {
    file,
    name,
    forks: inv.forks ?? DEFAULTS.forks,
    aptProxy: inv.apt_proxy,
    packageLockTimeoutS: inv.package_lock_timeout,
    nodeWaitTimeoutS: inv.node_wait_timeout ?? DEFAULTS.node_wait_timeout,
    firewall: inv.firewall ?? DEFAULTS.firewall,
    templatesDir: inv.templates_dir ? expandPath(inv.templates_dir, baseDir) : undefined,
    vars: inv.vars ?? {},
    globalDefs: globalDefs(inv.global_defs ?? {}),
    vrrpScripts: Object.entries(inv.vrrp_scripts ?? {}).map(([name, s]) => ({ name, ...s })),
    trackProcesses: Object.entries(inv.vrrp_track_processes ?? {}).map(([name, p]) => ({
      name,
      process: p.process,
      paramMatch: p.param_match,
      weight: p.weight,
      reverse: p.reverse ?? false,
      quorum: p.quorum,
      quorumMax: p.quorum_max,
      delay: p.delay,
      terminateDelay: p.terminate_delay,
      forkDelay: p.fork_delay,
      fullCommand: p.full_command ?? false,
    })),
    trackFiles: Object.entries(inv.vrrp_track_files ?? {}).map(([name, f]) => ({
      name,
      file: f.file,
      weight: f.weight,
      reverse: f.reverse ?? false,
      initFile: f.init_file,
    })),
    syncGroups: Object.entries(inv.vrrp_sync_groups ?? {}).map(([name, g]) => ({
      name,
      group: g.group,
      ...notifiers(g),
      globalTracking: g.global_tracking ?? false,
      trackingWeight: g.sync_group_tracking_weight ?? false,
      trackInterfaces: tracked(g.track_interfaces),
      trackScripts: tracked(g.track_scripts),
      trackProcesses: tracked(g.track_processes),
      trackFiles: tracked(g.track_files),
    })),
    staticIpaddress: (inv.static_ipaddress ?? []).map(vip),
    staticRoutes: inv.static_routes ?? [],
    staticRules: inv.static_rules ?? [],
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
      instances: Object.keys(inv.vrrp_instances).map((name): NodeInstance => {
        const inst = instanceView(inv, node, name);
        const scripts = tracked(inst.track_scripts);
        const peers = inst.unicast_peers ?? (inst.unicast ? peersOf(inv, node, inst.interface) : undefined);
        const srcIp = inst.unicast_src_ip ?? (inst.unicast ? addressOn(inv, node, inst.interface)?.ip : undefined);
        return {
          name,
          virtualRouterId: inst.virtual_router_id,
          interface: inst.interface,
          state: inst.state as VrrpState,
          priority: inst.priority as number,
          advertInt: inst.advert_int ?? DEFAULTS.instance.advert_int,
          authentication: inst.authentication
            ? { type: inst.authentication.auth_type ?? 'PASS', pass: passes.get(name) ?? '' }
            : undefined,
          vips: inst.virtual_ipaddresses.map(vip),
          vipsExcluded: (inst.virtual_ipaddress_excluded ?? []).map(vip),
          trackScripts: scripts.map((t) => t.name),
          trackScriptEntries: scripts,
          trackInterfaces: tracked(inst.track_interfaces),
          trackProcesses: tracked(inst.track_processes),
          trackFiles: tracked(inst.track_files),
          nopreempt: inst.nopreempt ?? false,
          preemptDelay: inst.preempt_delay,
          ...notifiers(inst),
          unicast: srcIp !== undefined || peers !== undefined ? { srcIp, peers: peers ?? [] } : undefined,
          mcastSrcIp: inst.mcast_src_ip,
          accept: inst.accept,
          useVmac: inst.use_vmac,
          vmacXmitBase: inst.vmac_xmit_base ?? false,
          nativeIpv6: inst.native_ipv6 ?? false,
          dontTrackPrimary: inst.dont_track_primary ?? false,
          version: inst.version,
          lvsSyncDaemonInterface: node.lvs_sync_daemon_interface ?? inst.lvs_sync_daemon_interface,
          garpMasterDelay: inst.garp_master_delay,
          garpMasterRepeat: inst.garp_master_repeat,
          garpMasterRefresh: inst.garp_master_refresh,
          garpMasterRefreshRepeat: inst.garp_master_refresh_repeat,
          virtualRoutes: inst.virtual_routes ?? [],
          virtualRules: inst.virtual_rules ?? [],
          verbatim: inst.verbatim,
        };
      }),
      globalDefs: globalDefs({ ...inv.global_defs, ...node.global_defs }),
      vrrpScripts: Object.entries(inv.vrrp_scripts ?? {}).map(([name, s]): VrrpScript => ({ name, ...s, ...node.vrrp_scripts?.[name] })),
      verbatim: node.verbatim ?? inv.verbatim,
      vars: { ...(inv.vars ?? {}), ...(node.vars ?? {}) },
    };
  });

  return { cluster, issues };
}

const vip = (v: RawVip): Vip => (typeof v === 'string' ? { address: v } : { ...v });
/** The notify scripts and smtp_alert, written the same way in a sync group and an instance. */
interface RawNotifiers {
  notify_master?: string;
  notify_backup?: string;
  notify_fault?: string;
  notify_stop?: string;
  notify?: string;
  smtp_alert?: boolean;
}
const notifiers = (x: RawNotifiers) => ({
  notifyMaster: x.notify_master,
  notifyBackup: x.notify_backup,
  notifyFault: x.notify_fault,
  notifyStop: x.notify_stop,
  notify: x.notify,
  smtpAlert: x.smtp_alert ?? false,
});

const tracked = (list: RawTracked[] | undefined): Tracked[] => (list ?? []).map((t) => (typeof t === 'string' ? { name: t } : { ...t }));

/** Every other node's address on `iface` (rules report a node without one). */
function peersOf(inv: RawInventory, node: RawNode, iface: string): string[] {
  return inv.nodes.filter((n) => n !== node).flatMap((n) => {
    const addr = addressOn(inv, n, iface);
    return addr ? [addr.ip] : [];
  });
}

function globalDefs(gd: RawGlobalDefs): GlobalDefs {
  return {
    routerId: gd.router_id,
    notificationEmail: gd.notification_email ?? [],
    notificationEmailFrom: gd.notification_email_from,
    smtpServer: gd.smtp_server,
    smtpConnectTimeout: gd.smtp_connect_timeout,
    enableScriptSecurity: gd.enable_script_security ?? DEFAULTS.global_defs.enable_script_security,
    scriptUser: gd.script_user ?? DEFAULTS.global_defs.script_user,
    scriptGroup: gd.script_group,
    vrrpSkipCheckAdvAddr: gd.vrrp_skip_check_adv_addr ?? false,
    vrrpGarpInterval: gd.vrrp_garp_interval,
    vrrpGnaInterval: gd.vrrp_gna_interval,
    vrrpVersion: gd.vrrp_version,
    lvsSyncDaemon: gd.lvs_sync_daemon,
    vrrpStrict: gd.vrrp_strict ?? false,
    vrrpGarpMasterDelay: gd.vrrp_garp_master_delay,
    vrrpGarpMasterRepeat: gd.vrrp_garp_master_repeat,
    vrrpGarpMasterRefresh: gd.vrrp_garp_master_refresh,
    vrrpGarpMasterRefreshRepeat: gd.vrrp_garp_master_refresh_repeat,
    vrrpStartupDelay: gd.vrrp_startup_delay,
    maxAutoPriority: gd.max_auto_priority,
    defaultInterface: gd.default_interface,
    vrrpIptables: gd.vrrp_iptables,
    nftables: gd.nftables,
    verbatim: gd.verbatim,
  };
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
      connectTimeout: s.connect_timeout !== undefined,
    },
  };
}
