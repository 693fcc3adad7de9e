// The resolved cluster: defaults applied, per-node overrides merged, secrets read. Everything
// downstream (render, plan, apply, verify) works on these types, never on raw YAML.

export type VrrpState = 'MASTER' | 'BACKUP';

export interface Vip {
  address: string; // as written, e.g. 192.168.69.110/32
  brd?: string;
  scope?: string;
  dev?: string;
  label?: string;
}

export interface VrrpScript {
  name: string;
  script: string;
  interval?: number;
  timeout?: number;
  weight?: number;
  rise?: number;
  fall?: number;
  user?: string;
}

/** A tracked interface, script, process or file, with the weight this reference gives it. */
export interface Tracked {
  name: string;
  weight?: number;
}

export interface TrackProcess {
  name: string;
  process: string;
  paramMatch?: 'initial' | 'partial';
  weight?: number;
  reverse: boolean;
  quorum?: number;
  quorumMax?: number;
  delay?: number;
  terminateDelay?: number;
  forkDelay?: number;
  fullCommand: boolean;
}

export interface TrackFile {
  name: string;
  file: string;
  weight?: number;
  reverse: boolean;
  initFile?: true | number;
}

export interface SyncGroup {
  name: string;
  group: string[];
  notifyMaster?: string;
  notifyBackup?: string;
  notifyFault?: string;
  notifyStop?: string;
  notify?: string;
  smtpAlert: boolean;
  globalTracking: boolean;
  trackingWeight: boolean;
  trackInterfaces: Tracked[];
  trackScripts: Tracked[];
  trackProcesses: Tracked[];
  trackFiles: Tracked[];
}

/** One vrrp_instance as seen by one node. */
export interface NodeInstance {
  name: string;
  virtualRouterId: number;
  interface: string;
  state: VrrpState;
  priority: number;
  advertInt: number;
  authentication?: { type: 'PASS' | 'AH'; pass: string };
  vips: Vip[];
  vipsExcluded: Vip[];
  /** Names of the tracked scripts (weights in trackScriptEntries). */
  trackScripts: string[];
  trackScriptEntries: Tracked[];
  trackInterfaces: Tracked[];
  trackProcesses: Tracked[];
  trackFiles: Tracked[];
  nopreempt: boolean;
  /** Set while the node is drained (src/plan/drain.ts): the configured state and priority. */
  drained?: { state: VrrpState; priority: number };
  preemptDelay?: number;
  notifyMaster?: string;
  notifyBackup?: string;
  notifyFault?: string;
  notify?: string;
  notifyStop?: string;
  smtpAlert: boolean;
  /** unicast_src_ip (derived or explicit) and unicast_peer; either may be absent (keepalived picks). */
  unicast?: { srcIp?: string; peers: string[] };
  mcastSrcIp?: string;
  accept?: boolean;
  useVmac?: true | string;
  vmacXmitBase: boolean;
  nativeIpv6: boolean;
  dontTrackPrimary: boolean;
  version?: 2 | 3;
  lvsSyncDaemonInterface?: string;
  garpMasterDelay?: number;
  garpMasterRepeat?: number;
  garpMasterRefresh?: number;
  garpMasterRefreshRepeat?: number;
  virtualRoutes: string[];
  virtualRules: string[];
  verbatim?: string;
}

export interface SshSettings {
  host: string;
  port: number;
  user: string;
  identityFile?: string;
  knownHosts: string;
  hostKeyPolicy: 'strict' | 'accept-new';
  useAgent: boolean;
  sudo: boolean;
  sudoPassword?: string;
  proxyJump?: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** Which fields the inventory set explicitly (ssh config must not override those). */
  explicit: { user: boolean; port: boolean; identityFile: boolean; host: boolean; connectTimeout?: boolean };
}

export interface NodeSpec {
  name: string;
  /** The node's own IP on the VRRP network (no prefix). */
  ip: string;
  prefix?: number;
  ssh: SshSettings;
  instances: NodeInstance[];
  /** This node's global_defs and vrrp_scripts (cluster values with the node's overrides). */
  globalDefs: GlobalDefs;
  vrrpScripts: VrrpScript[];
  /** Top-level verbatim text (the node's own, else the cluster's). */
  verbatim?: string;
  vars: Record<string, unknown>;
}

export interface GlobalDefs {
  routerId?: string;
  notificationEmail: string[];
  notificationEmailFrom?: string;
  smtpServer?: string;
  smtpConnectTimeout?: number;
  enableScriptSecurity: boolean;
  scriptUser: string;
  vrrpSkipCheckAdvAddr: boolean;
  vrrpGarpInterval?: number;
  vrrpGnaInterval?: number;
  vrrpVersion?: 2 | 3;
  lvsSyncDaemon?: string;
  scriptGroup?: string;
  vrrpStrict: boolean;
  vrrpGarpMasterDelay?: number;
  vrrpGarpMasterRepeat?: number;
  vrrpGarpMasterRefresh?: number;
  vrrpGarpMasterRefreshRepeat?: number;
  vrrpStartupDelay?: number;
  maxAutoPriority?: number;
  defaultInterface?: string;
  vrrpIptables?: true | string[];
  nftables?: true | string;
  verbatim?: string;
}

export interface ManagedFile {
  path: string;
  template?: string;
  content?: string;
  mode: string;
}

export interface Cluster {
  /** Absolute path of the inventory file, for messages. */
  file: string;
  /** The name under `clusters:`; '' for an inventory without `clusters:` (one cluster). */
  name: string;
  forks: number;
  aptProxy?: string;
  /** Seconds an install waits for a busy apt/dpkg lock (default APT_LOCK_TIMEOUT_S). */
  packageLockTimeoutS?: number;
  /** Seconds a run waits (before any change) for a node that is booting or shutting down. */
  nodeWaitTimeoutS: number;
  /** VRRP through a node's firewall: `check` (default) fails with the rule to add, `manage` adds it, `off` skips. */
  firewall: 'manage' | 'check' | 'off';
  templatesDir?: string;
  vars: Record<string, unknown>;
  globalDefs: GlobalDefs;
  vrrpScripts: VrrpScript[];
  trackProcesses: TrackProcess[];
  trackFiles: TrackFile[];
  syncGroups: SyncGroup[];
  staticIpaddress: Vip[];
  staticRoutes: string[];
  staticRules: string[];
  files: ManagedFile[];
  nodes: NodeSpec[];
  /** Every secret value read, so output can mask them. */
  secrets: string[];
  /** `failover: fast`: the fields its profile set (the user's own values are not listed). */
  failoverProfile?: { name: string; applied: string[] };
}

/** Every cluster of one inventory: one for an inventory without `clusters:`. */
export interface Fleet {
  file: string;
  clusters: Cluster[];
}
