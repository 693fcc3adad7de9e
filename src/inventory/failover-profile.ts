// `failover: fast`: a named profile that expands, before validation, into ordinary inventory fields a
// user could also write one by one. A field the user set wins over the profile; every field the profile
// sets is listed (`applied`), so render and the dry-run diff show where a value came from.
import type { RawInventory } from './schema.js';
import type { RuleIssue } from './rules.js';

/** The watcher the profile deploys and tracks (templates/haproxy-watch.sh.njk). */
export const FAST_WATCH_SCRIPT = 'kadeploy_haproxy';
export const FAST_WATCH_PATH = '/usr/local/bin/kadeploy-haproxy-watch';

/**
 * What `failover: fast` sets, and why:
 * - VRRPv3 with adverts every 0.1 s: a dead node is noticed after 3 × 0.1 s + skew instead of 3 s.
 * - HAProxy watched by a vrrp_script that watches for most of each second and fails within ~20 ms of
 *   HAProxy's last process exiting (fall 1): the holder enters FAULT and sends a priority-0 advert,
 *   so the next node takes over at once. keepalived's `track_process` would be event-driven too, but
 *   it needs the kernel's process events, which a container with its own PID namespace (the lab's
 *   systemd-nspawn nodes, LXC, Docker) never gets: keepalived then puts every instance in FAULT.
 * - Gratuitous ARP: 5 at once on becoming MASTER (keepalived's default burst, made explicit) and the
 *   second burst after 1 s instead of 5 s, so a switch or client that missed the first follows soon.
 */
export const FAST = {
  vrrp_version: 3 as const,
  advert_int_v3: 0.1,
  /** VRRPv2 has whole seconds only: with an explicit vrrp_version 2, the profile keeps keepalived's 1 s. */
  advert_int_v2: 1,
  script: { script: FAST_WATCH_PATH, interval: 1, timeout: 2, fall: 1, rise: 1 },
  vrrp_garp_master_delay: 1,
  vrrp_garp_master_repeat: 5,
};

const show = (v: unknown): string =>
  Array.isArray(v) ? `[${v.map(show).join(', ')}]` : v && typeof v === 'object' ? `{${Object.entries(v).map(([k, x]) => `${k}: ${show(x)}`).join(', ')}}` : String(v);

export interface ProfileResult {
  inv: RawInventory;
  /** Fields the profile set, as `path=value`. */
  applied: string[];
  issues: RuleIssue[];
}

export function expandFailoverProfile(raw: RawInventory): ProfileResult {
  if (raw.failover !== 'fast') return { inv: raw, applied: [], issues: [] };
  const applied: string[] = [];
  const issues: RuleIssue[] = [];
  const set = <T>(path: string, value: T): T => {
    applied.push(`${path}=${show(value)}`);
    return value;
  };

  const gd = { ...raw.global_defs };
  gd.vrrp_version ??= set('global_defs.vrrp_version', FAST.vrrp_version);
  gd.vrrp_garp_master_delay ??= set('global_defs.vrrp_garp_master_delay', FAST.vrrp_garp_master_delay);
  // vrrp_strict forbids a GARP repeat (keepalived -t refuses it).
  if (!gd.vrrp_strict) gd.vrrp_garp_master_repeat ??= set('global_defs.vrrp_garp_master_repeat', FAST.vrrp_garp_master_repeat);

  const scripts = { ...raw.vrrp_scripts };
  let watcherUsed = false;
  const instances = Object.fromEntries(
    Object.entries(raw.vrrp_instances).map(([name, inst]) => {
      const at = `vrrp_instances.${name}`;
      const version = inst.version ?? gd.vrrp_version;
      const out = { ...inst };
      out.advert_int ??= set(`${at}.advert_int`, version === 3 ? FAST.advert_int_v3 : FAST.advert_int_v2);
      // The user's own tracking wins; say when it is the slow part.
      if (inst.track_scripts === undefined && inst.track_processes === undefined) {
        out.track_scripts = set(`${at}.track_scripts`, [FAST_WATCH_SCRIPT]);
        watcherUsed = true;
      } else {
        for (const t of inst.track_scripts ?? []) {
          const s = raw.vrrp_scripts?.[typeof t === 'string' ? t : t.name];
          const slowMs = s ? (s.interval ?? 1) * (s.fall ?? 1) * 1000 : 0;
          if (slowMs > 1000) {
            issues.push({
              path: ['vrrp_instances', name, 'track_scripts'],
              severity: 'warning',
              message: `failover: fast: ${typeof t === 'string' ? t : t.name} needs up to ${slowMs} ms to notice HAProxy stopping (interval × fall); leave track_scripts out to use the profile's ${FAST_WATCH_SCRIPT}`,
            });
          }
        }
      }
      return [name, out];
    }),
  );
  if (watcherUsed && !scripts[FAST_WATCH_SCRIPT]) scripts[FAST_WATCH_SCRIPT] = set(`vrrp_scripts.${FAST_WATCH_SCRIPT}`, { ...FAST.script });
  const files = [...(raw.files ?? [])];
  if (watcherUsed && !files.some((f) => f.path === FAST_WATCH_PATH)) {
    files.push({ path: FAST_WATCH_PATH, template: 'haproxy-watch.sh.njk' });
    applied.push(`files+=${FAST_WATCH_PATH}`);
  }
  return { inv: { ...raw, global_defs: gd, vrrp_scripts: scripts, vrrp_instances: instances, files }, applied, issues };
}
