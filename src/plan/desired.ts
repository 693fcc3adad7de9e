// Playbook + inventory → what each node should look like (rendered locally, no SSH): each task's
// kind module says what its arguments want.
import type { Cluster, NodeSpec } from '../inventory/model.js';
import type { Playbook } from '../playbook/playbook.js';
import type { Renderer } from '../render/render.js';
import { taskKind } from '../tasks/registry.js';
import type { Desired } from '../types.js';

export function desiredFor(playbook: Playbook, cluster: Cluster, renderer: Renderer, node: NodeSpec): Desired[] {
  return playbook.tasks.flatMap((t) => taskKind(t.kind).want!(t.args, t.name, { cluster, renderer, node }) as Desired[]);
}
