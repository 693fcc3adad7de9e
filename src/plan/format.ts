// Plan output: a readable per-node listing with coloured unified diffs, or JSON. Secrets are masked.
import { maskSecrets } from '../mask.js';
import { stripPlan } from './saved.js';
import { isChange, pendingChanges, type Change, type Plan } from '../types.js';

export interface Style {
  color: boolean;
  /** Also each step's exact command (and, for a failing node, what its rollback restores). */
  commands?: boolean;
}

const paint = (on: boolean, code: number, text: string) => (on ? `\x1b[${code}m${text}\x1b[0m` : text);

const SYMBOL: Record<string, string> = { install: '+', create: '+', update: '~', enable: '~', start: '~', reload: '~', restart: '~', run: '!', check: '?', remove: '-', none: '=' };

function colourDiff(diff: string, color: boolean): string {
  return diff
    .split('\n')
    .filter((l) => !l.startsWith('====') && l !== '\\ No newline at end of file')
    .map((l) => {
      if (l.startsWith('+++') || l.startsWith('---')) return paint(color, 1, l);
      if (l.startsWith('+')) return paint(color, 32, l);
      if (l.startsWith('-')) return paint(color, 31, l);
      if (l.startsWith('@@')) return paint(color, 36, l);
      return l;
    })
    .join('\n')
    .trimEnd();
}

export function formatPlan(plan: Plan, secrets: readonly string[], style: Style): string {
  const out: string[] = [];
  for (const node of plan.nodes) {
    const changes = node.changes.filter(isChange);
    const holder = node.holds.length ? ` — holds ${node.holds.join(', ')} (changed last)` : '';
    const drained = node.drained ? ' — DRAINED (priority 1 until kadeploy undrain)' : '';
    out.push(paint(style.color, 1, `${node.node} (${node.address})${holder}${drained}: ${changes.length ? `${changes.length} change(s)` : 'no changes'}`));
    for (const c of changes) {
      const sym = SYMBOL[c.actions[0] ?? 'none'] ?? '~';
      out.push(`  ${paint(style.color, sym === '+' ? 32 : 33, sym)} ${c.kind.padEnd(8)} ${c.summary}`);
      if (c.diff) out.push(indent(colourDiff(maskSecrets(c.diff, secrets), style.color), 6));
      if (style.commands) {
        for (const s of c.steps) {
          out.push(`      $ ${maskSecrets(s.command, secrets)}${s.stdin ? `  < content sha256:${s.stdin.sha256.slice(0, 16)}` : ''}`);
          if (s.undo) out.push(`        undo: ${s.undo.backup ? `restore ${s.undo.path} from ${s.undo.backup}` : `remove ${s.undo.path}`}`);
        }
      }
    }
  }
  if (style.commands && plan.vipCheck) {
    const v = plan.vipCheck;
    out.push(`VIP check (up to ${v.timeoutS}s): ${v.vips.map((x) => `${x.vip} on ${x.anyHolder ? 'any single node' : (x.expected ?? 'no node')}`).join('; ')}`);
  }
  const total = pendingChanges(plan);
  const touched = plan.nodes.filter((n) => n.changes.some(isChange)).length;
  out.push(total ? `Plan: ${total} change(s) on ${touched} of ${plan.nodes.length} node(s).` : `No changes: ${plan.nodes.length} node(s) up to date.`);
  return `${out.join('\n')}\n`;
}

const indent = (text: string, n: number) => text.split('\n').map((l) => ' '.repeat(n) + l).join('\n');

/** JSON form: file contents are left out (the diff shows them; steps carry their sha256), secrets masked. */
export function planToJson(plan: Plan, secrets: readonly string[]): string {
  const strip = (c: Change) => {
    const { desired, diff, ...rest } = c;
    const { content: _content, ...target } = desired as { content?: string };
    return { ...rest, target, ...(diff ? { diff } : {}) };
  };
  const bare = stripPlan(plan, secrets);
  const json = {
    changes_pending: pendingChanges(plan),
    nodes: plan.nodes.map((n) => ({ ...n, changes: n.changes.map(strip).map((c) => ({ ...c, steps: c.steps.map((s) => (s.stdin ? { ...s, stdin: { sha256: s.stdin.sha256 } } : s)) })) })),
    phases: bare.phases,
    vip_check: plan.vipCheck,
  };
  return `${maskSecrets(JSON.stringify(json, null, 2), secrets)}\n`;
}
