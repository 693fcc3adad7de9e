// firewalld: kadeploy reads the default zone, runtime and permanent (`firewall-cmd --list-all`).
// VRRP passes from a peer when the zone's target is ACCEPT, the zone allows protocol vrrp, or a rich
// rule accepts protocol vrrp from it (or from anywhere). Otherwise the zone rejects it. `manage` adds
// a rich rule per peer, permanent (kept across reloads and reboots) and runtime (now) — through
// firewall-cmd only: a raw nft rule would be lost on firewalld's next reload.
import { sh } from '../shell/quote.js';
import type { Step } from '../types.js';
import { sameAddress, type ManagerPlan } from './manager.js';

export const FIREWALLD_ZONE =
  'command -v firewall-cmd >/dev/null && z=$(firewall-cmd --get-default-zone) && echo "zone: $z" && firewall-cmd --zone="$z" --list-all && echo "@@permanent" && firewall-cmd --permanent --zone="$z" --list-all';

export interface ZoneView {
  target: string;
  protocols: string[];
  richRules: string[];
}

export interface FirewalldState {
  zone: string;
  runtime: ZoneView;
  permanent: ZoneView;
}

function parseZone(text: string): ZoneView {
  const field = (name: string) => text.match(new RegExp(`^\\s*${name}: ?(.*)$`, 'm'))?.[1]?.trim() ?? '';
  const rich = text.split(/^\s*rich rules:.*$/m)[1] ?? '';
  return {
    target: field('target'),
    protocols: field('protocols').split(/\s+/).filter(Boolean),
    richRules: rich.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('rule ')),
  };
}

export function parseFirewalld(text: string): FirewalldState | undefined {
  const zone = text.match(/^zone: (\S+)/m)?.[1];
  if (!zone) return undefined;
  const [runtime, permanent] = text.split('@@permanent');
  return { zone, runtime: parseZone(runtime ?? ''), permanent: parseZone(permanent ?? '') };
}

export const richRule = (peer: string) => `rule family="ipv4" source address="${peer}" protocol value="vrrp" accept`;

function accepts(z: ZoneView, peer: string): boolean {
  if (z.target === 'ACCEPT' || z.protocols.some((p) => p === 'vrrp' || p === '112')) return true;
  return z.richRules.some((r) => {
    if (!/protocol value="(vrrp|112)"/.test(r) || !/\saccept\b/.test(r) || /\bnot\b/.test(r)) return false;
    const source = r.match(/source address="([^"]+)"/)?.[1];
    return !source || sameAddress(source, peer);
  });
}

const addCommand = (zone: string, peer: string, permanent: boolean) =>
  sh('firewall-cmd', ...(permanent ? ['--permanent'] : []), `--zone=${zone}`, `--add-rich-rule=${richRule(peer)}`);

export function planFirewalld(peers: string[], f: FirewalldState): ManagerPlan {
  const manager = `firewalld zone ${f.zone}`;
  const blocked: string[] = [];
  const steps: Step[] = [];
  const what = `(zone target ${f.runtime.target || 'default'}, no rule accepts VRRP)`;
  for (const peer of peers) {
    const now = accepts(f.runtime, peer);
    const kept = accepts(f.permanent, peer);
    if (now && kept) continue;
    const fix = `${addCommand(f.zone, peer, true)} && ${addCommand(f.zone, peer, false)}`;
    blocked.push(
      now
        ? `firewalld zone ${f.zone} lets VRRP from ${peer} through until its next reload only (not in the permanent configuration): run\n    ${addCommand(f.zone, peer, true)}`
        : `firewalld zone ${f.zone} drops VRRP from ${peer} ${what}: run\n    ${fix}`,
    );
    if (!kept) steps.push({ title: `let VRRP from ${peer} through firewalld zone ${f.zone} (permanent)`, command: addCommand(f.zone, peer, true) });
    if (!now) steps.push({ title: `let VRRP from ${peer} through firewalld zone ${f.zone} (now)`, command: addCommand(f.zone, peer, false) });
  }
  return { manager, blocked, steps, notes: [], fine: `${manager} lets VRRP through` };
}
