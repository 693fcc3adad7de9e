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
  trackScripts: string[];
  trackInterfaces: string[];
  nopreempt: boolean;
  preemptDelay?: number;
  notifyMaster?: string;
  notifyBackup?: string;
  notifyFault?: string;
  notify?: string;
  /** Set when the instance is unicast: this node's source address and every other node's. */
  unicast?: { srcIp: string; peers: string[] };
  lvsSyncDaemonInterface?: string;
  garpMasterDelay?: number;
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
  explicit: { user: boolean; port: boolean; identityFile: boolean; host: boolean };
}

export interface NodeSpec {
  name: string;
  /** The node's own IP on the VRRP network (no prefix). */
  ip: string;
  prefix?: number;
  ssh: SshSettings;
  instances: NodeInstance[];
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
  forks: number;
  aptProxy?: string;
  /** VRRP through a node's firewall: `check` (default) fails with the rule to add, `manage` adds it, `off` skips. */
  firewall: 'manage' | 'check' | 'off';
  templatesDir?: string;
  vars: Record<string, unknown>;
  globalDefs: GlobalDefs;
  vrrpScripts: VrrpScript[];
  files: ManagedFile[];
  nodes: NodeSpec[];
  /** Every secret value read, so output can mask them. */
  secrets: string[];
}
