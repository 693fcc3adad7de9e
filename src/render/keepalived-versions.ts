// What each keepalived version understands: the directives added since 2.0.0 (with the first
// release whose parser knows them) and the spellings that changed. A node's keepalived version (the
// installed package, else apt's candidate) picks the spelling kadeploy renders; a rendered directive
// the node's keepalived does not know is refused before any change (keepalived 2.1 would only log
// "Unknown keyword" and run without it: its `keepalived -t` even exits 0, seen on Debian 11).
//
// Source of every row: github:acassen/keepalived, `git grep 'install_keyword*("NAME"'` on each release
// tag v2.0.0 … v2.3.4: NAME is installed in FILE from tag SINCE and in no earlier tag. (The ChangeLog
// stops at 2.0.20, so the parser sources are the reference.) Generic sub-keywords of the checkers
// (delay, process, regex, payload …) are left out: as a line's first word they are ambiguous.

/** [directive, first version that knows it, parser file that installs it]. */
export const DIRECTIVES: ReadonlyArray<readonly [directive: string, since: string, file: string]> = [
  ['kernel_rx_buf_size', '2.0.3', 'keepalived/vrrp/vrrp_parser.c'],
  ['track_group', '2.0.3', 'keepalived/vrrp/vrrp_parser.c'],
  ['vrrp_rx_bufs_multiplier', '2.0.3', 'keepalived/core/global_parser.c'],
  ['vrrp_rx_bufs_policy', '2.0.3', 'keepalived/core/global_parser.c'],
  ['notify_master_rx_lower_pri', '2.0.6', 'keepalived/vrrp/vrrp_parser.c'],
  ['checker_log_all_failures', '2.0.11', 'keepalived/core/global_parser.c'],
  ['full_command', '2.0.11', 'keepalived/vrrp/vrrp_parser.c'],
  ['nftables', '2.0.11', 'keepalived/core/global_parser.c'],
  ['nftables_counters', '2.0.11', 'keepalived/core/global_parser.c'],
  ['nftables_ifindex', '2.0.11', 'keepalived/core/global_parser.c'],
  ['nftables_priority', '2.0.11', 'keepalived/core/global_parser.c'],
  ['process_monitor_rcv_bufs', '2.0.11', 'keepalived/core/global_parser.c'],
  ['process_monitor_rcv_bufs_force', '2.0.11', 'keepalived/core/global_parser.c'],
  ['track_process', '2.0.11', 'keepalived/vrrp/vrrp_parser.c'],
  ['vrrp_track_process', '2.0.11', 'keepalived/vrrp/vrrp_parser.c'],
  ['vrrp_min_garp', '2.0.12', 'keepalived/core/global_parser.c'],
  ['linkbeat_interfaces', '2.0.13', 'keepalived/vrrp/vrrp_parser.c'],
  ['vrrp_startup_delay', '2.0.14', 'keepalived/core/global_parser.c'],
  ['lvs_flush_onstop', '2.0.15', 'keepalived/core/global_parser.c'],
  ['random_seed', '2.0.15', 'keepalived/core/global_parser.c'],
  ['bfd_process_name', '2.0.16', 'keepalived/core/global_parser.c'],
  ['fork_delay', '2.0.16', 'keepalived/vrrp/vrrp_parser.c'],
  ['log_unknown_vrids', '2.0.16', 'keepalived/core/global_parser.c'],
  ['lvs_process_name', '2.0.16', 'keepalived/core/global_parser.c'],
  ['notify_priority_changes', '2.0.16', 'keepalived/vrrp/vrrp_parser.c'],
  ['param_match', '2.0.16', 'keepalived/vrrp/vrrp_parser.c'],
  ['process_name', '2.0.16', 'keepalived/core/global_parser.c'],
  ['process_names', '2.0.16', 'keepalived/core/global_parser.c'],
  ['quorum_max', '2.0.16', 'keepalived/vrrp/vrrp_parser.c'],
  ['terminate_delay', '2.0.16', 'keepalived/vrrp/vrrp_parser.c'],
  ['vrrp_notify_priority_changes', '2.0.16', 'keepalived/core/global_parser.c'],
  ['vrrp_process_name', '2.0.16', 'keepalived/core/global_parser.c'],
  ['bfd_cpu_affinity', '2.0.17', 'keepalived/core/global_parser.c'],
  ['checker_cpu_affinity', '2.0.17', 'keepalived/core/global_parser.c'],
  ['use_ipvlan', '2.0.17', 'keepalived/vrrp/vrrp_parser.c'],
  ['vrrp_cpu_affinity', '2.0.17', 'keepalived/core/global_parser.c'],
  ['bfd_rlimit_rttime', '2.1.0', 'keepalived/core/global_parser.c'],
  ['check_unicast_src', '2.1.0', 'keepalived/vrrp/vrrp_parser.c'],
  ['checker_rlimit_rttime', '2.1.0', 'keepalived/core/global_parser.c'],
  ['max_auto_priority', '2.1.0', 'keepalived/core/global_parser.c'],
  ['min_auto_priority_delay', '2.1.0', 'keepalived/core/global_parser.c'],
  ['net_namespace_ipvs', '2.1.0', 'keepalived/core/global_parser.c'],
  ['notify_deleted', '2.1.0', 'keepalived/vrrp/vrrp_parser.c'],
  ['reload_repeat', '2.1.0', 'keepalived/core/global_parser.c'],
  ['reload_time_file', '2.1.0', 'keepalived/core/global_parser.c'],
  ['shutdown_script', '2.1.0', 'keepalived/core/global_parser.c'],
  ['shutdown_script_timeout', '2.1.0', 'keepalived/core/global_parser.c'],
  ['startup_script', '2.1.0', 'keepalived/core/global_parser.c'],
  ['startup_script_timeout', '2.1.0', 'keepalived/core/global_parser.c'],
  ['unicast_ttl', '2.1.0', 'keepalived/vrrp/vrrp_parser.c'],
  ['vrrp_rlimit_rttime', '2.1.0', 'keepalived/core/global_parser.c'],
  ['checker_process_name', '2.2.0', 'keepalived/core/global_parser.c'],
  ['disable_local_igmp', '2.2.0', 'keepalived/core/global_parser.c'],
  ['include_check', '2.2.0', 'keepalived/core/global_parser.c'],
  ['lvs_flush_on_stop', '2.2.0', 'keepalived/core/global_parser.c'],
  ['reload_check_config', '2.2.0', 'keepalived/core/global_parser.c'],
  ['reload_file', '2.2.0', 'keepalived/core/global_parser.c'],
  ['tmp_config_directory', '2.2.0', 'keepalived/core/global_parser.c'],
  ['use_vmac_addr', '2.2.0', 'keepalived/vrrp/vrrp_parser.c'],
  ['vmac_addr_prefix', '2.2.0', 'keepalived/core/global_parser.c'],
  ['vmac_garp_intvl', '2.2.0', 'keepalived/vrrp/vrrp_parser.c'],
  ['vmac_prefix', '2.2.0', 'keepalived/core/global_parser.c'],
  ['vrrp_vmac_garp_intvl', '2.2.0', 'keepalived/core/global_parser.c'],
  ['nftables_ipvs', '2.2.2', 'keepalived/core/global_parser.c'],
  ['nftables_ipvs_priority', '2.2.2', 'keepalived/core/global_parser.c'],
  ['nftables_ipvs_start_fwmark', '2.2.2', 'keepalived/core/global_parser.c'],
  ['config_save_dir', '2.2.3', 'keepalived/core/global_parser.c'],
  ['data_use_instance', '2.2.3', 'keepalived/core/global_parser.c'],
  ['down_timer_adverts', '2.2.3', 'keepalived/vrrp/vrrp_parser.c'],
  ['garp_extra_if', '2.2.3', 'keepalived/vrrp/vrrp_parser.c'],
  ['interface_up_down_delays', '2.2.3', 'keepalived/vrrp/vrrp_parser.c'],
  ['vrrp_down_timer_adverts', '2.2.3', 'keepalived/core/global_parser.c'],
  ['vrrp_garp_extra_if', '2.2.3', 'keepalived/core/global_parser.c'],
  ['fifo_write_vrrp_states_on_reload', '2.2.5', 'keepalived/core/global_parser.c'],
  ['mcast_dst_ip', '2.2.5', 'keepalived/vrrp/vrrp_parser.c'],
  ['unicast_fault_no_peer', '2.2.5', 'keepalived/vrrp/vrrp_parser.c'],
  ['vrf', '2.2.5', 'keepalived/vrrp/vrrp_parser.c'],
  ['json_version', '2.2.8', 'keepalived/core/global_parser.c'],
  ['no_virtual_ipaddress', '2.2.8', 'keepalived/vrrp/vrrp_parser.c'],
  ['timer_expired_backup', '2.2.8', 'keepalived/vrrp/vrrp_parser.c'],
  ['v3_checksum_as_v2', '2.2.8', 'keepalived/core/global_parser.c'],
  ['dbus_no_interface_name', '2.3.0', 'keepalived/core/global_parser.c'],
  ['snmp_rs_stats_update_interval', '2.3.0', 'keepalived/core/global_parser.c'],
  ['snmp_vs_stats_update_interval', '2.3.0', 'keepalived/core/global_parser.c'],
  ['use_symlink_paths', '2.3.0', 'keepalived/core/global_parser.c'],
  ['iproute_etc_dir', '2.3.2', 'keepalived/core/global_parser.c'],
  ['iproute_usr_dir', '2.3.2', 'keepalived/core/global_parser.c'],
  ['thread_timer_expired', '2.3.2', 'keepalived/vrrp/vrrp_parser.c'],
  ['json_dump_file', '2.3.3', 'keepalived/core/global_parser.c'],
  ['owner_ignore_adverts', '2.3.3', 'keepalived/vrrp/vrrp_parser.c'],
  ['state_dump_file', '2.3.3', 'keepalived/core/global_parser.c'],
  ['stats_dump_file', '2.3.3', 'keepalived/core/global_parser.c'],
  ['vrrp_owner_ignore_adverts', '2.3.3', 'keepalived/core/global_parser.c'],
];

/** A directive spelled differently before `since` (the new spelling is what kadeploy renders by default). */
export const SPELLINGS = {
  // keepalived/trackers/track_file.c (v2.1.0): track_file, with vrrp_track_file kept as a deprecated
  // synonym ("vrrp_track_file" is deprecated, please use "track_file", logged by 2.2 and 2.3);
  // keepalived/vrrp/vrrp_parser.c in v2.0.20 and earlier knows only vrrp_track_file.
  track_file: { since: '2.1.0', before: 'vrrp_track_file' },
} as const;

/** `keepalived -t` (--config-test): keepalived/core/main.c from v2.0.4. */
export const CONFIG_TEST_SINCE = '2.0.4';
/**
 * Before 2.2.0, `keepalived -t` reports problems on stderr but may exit 0 (Debian 11's 2.1.5 exits 0
 * on an unknown keyword and on a VRID of 300): any output then counts as a failure.
 */
export const CONFIG_TEST_EXIT_STATUS_SINCE = '2.2.0';

/** Upstream version of a package version: "1:2.1.5-0.2+deb11u1" → "2.1.5". */
export const upstreamVersion = (pkg: string): string => pkg.replace(/^\d+:/, '').replace(/-[^-]*$/, '');

/** Compare dotted versions numerically ("2.2.10" > "2.2.7"); a suffix after the numbers is ignored. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) => (/^\d+(\.\d+)*/.exec(v)?.[0] ?? '0').split('.').map(Number);
  const [x, y] = [parts(a), parts(b)];
  for (let k = 0; k < Math.max(x.length, y.length); k++) {
    const d = (x[k] ?? 0) - (y[k] ?? 0);
    if (d) return Math.sign(d);
  }
  return 0;
}

export const atLeast = (version: string | undefined, since: string): boolean => version === undefined || compareVersions(version, since) >= 0;

/** How the template spells each changed directive for this version (unknown version: the newest spelling). */
export function spellings(version?: string): Record<keyof typeof SPELLINGS, string> {
  const out = {} as Record<keyof typeof SPELLINGS, string>;
  for (const [name, s] of Object.entries(SPELLINGS) as Array<[keyof typeof SPELLINGS, (typeof SPELLINGS)[keyof typeof SPELLINGS]]>) {
    out[name] = atLeast(version, s.since) ? name : s.before;
  }
  return out;
}

/** Does this version read every directive under its newest name (what a render without facts writes)? */
export const readsNewestSpellings = (version?: string): boolean => Object.values(SPELLINGS).every((s) => atLeast(version, s.since));

// Blocks whose lines are values (addresses, names, routes), not directives.
const LIST_BLOCKS = new Set(['virtual_ipaddress', 'virtual_ipaddress_excluded', 'virtual_routes', 'virtual_rules', 'static_ipaddress', 'static_routes', 'static_rules', 'track_interface', 'track_script', 'track_process', 'track_file', 'group', 'unicast_peer', 'notification_email']);
const SINCE = new Map(DIRECTIVES.map(([d, since, file]) => [d, { since, file }]));

export interface Unsupported {
  directive: string;
  since: string;
  file: string;
  /** 1-based line in the rendered keepalived.conf. */
  line: number;
}

/** Directives of a rendered keepalived.conf that `version` does not know, in file order. */
export function unsupportedDirectives(config: string, version: string): Unsupported[] {
  const found: Unsupported[] = [];
  const blocks: string[] = [];
  config.split('\n').forEach((text, k) => {
    const words = text.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
    if (!words.length) return;
    if (words[0] === '}') {
      blocks.pop();
      return;
    }
    const inList = LIST_BLOCKS.has(blocks[blocks.length - 1] ?? '');
    const known = SINCE.get(words[0]!);
    if (!inList && known && compareVersions(version, known.since) < 0) found.push({ directive: words[0]!, ...known, line: k + 1 });
    if (words[words.length - 1] === '{') blocks.push(words[0]!);
    if (words.includes('}') && words[words.length - 1] !== '{') blocks.pop();
  });
  return found;
}

/** Why kadeploy refuses this node: node, version, each directive with the version that added it. */
export function refusalMessage(node: string, version: string, path: string, found: Unsupported[]): string {
  const lines = found.map((u) => `  ${u.directive} (line ${u.line}): keepalived ${u.since} added it (${u.file})`);
  return (
    `${node}: keepalived ${version} does not understand ${found.length === 1 ? 'a directive' : `${found.length} directives`} of its ${path}:\n${lines.join('\n')}\n` +
    `  Remove ${found.length === 1 ? 'it' : 'them'} from the inventory for this node, or upgrade keepalived on ${node} to ${found.map((u) => u.since).sort(compareVersions).pop()} or newer.`
  );
}
