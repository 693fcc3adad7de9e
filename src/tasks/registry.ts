// The task kinds, by key. Adding a kind is one module (src/tasks/<kind>.ts) and one line here (or a
// call to registerTaskKind); the playbook schema, facts, planning and apply all go through this map.
import type { FactNeeds } from '../facts/index.js';
import type { DesiredBase } from '../types.js';
import { assertKind } from './assert.js';
import { assertVipKind } from './assert-vip.js';
import { commandKind } from './command.js';
import { fileKind } from './file.js';
import { firewallKind } from './firewall.js';
import { holdStartKind, releaseStartKind } from './first-start.js';
import type { TaskKind } from './kind.js';
import { managedFilesKind } from './managed-files.js';
import { packageKind } from './package.js';
import { serviceKind } from './service.js';
import { templateKind } from './template.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKind = TaskKind<any, any>;

const KINDS = new Map<string, AnyKind>();

export function registerTaskKind(kind: AnyKind): void {
  if (KINDS.has(kind.key)) throw new Error(`task kind "${kind.key}" is already registered`);
  KINDS.set(kind.key, kind);
}

for (const k of [packageKind, managedFilesKind, templateKind, fileKind, serviceKind, commandKind, assertKind, assertVipKind, holdStartKind, releaseStartKind, firewallKind]) registerTaskKind(k as AnyKind);

/** Kinds a playbook may use (those with arguments), in registration order. */
export const playbookKinds = (): AnyKind[] => [...KINDS.values()].filter((k) => k.args !== undefined);

export function taskKind(key: string): AnyKind {
  const kind = KINDS.get(key);
  if (!kind) throw new Error(`no task kind "${key}"`);
  return kind;
}

/** Everything the desired items of one node need read from it. */
export const needsOf = (desired: readonly DesiredBase[]): FactNeeds[] => desired.map((d) => taskKind(d.kind).needs?.(d) ?? {});
