// Playbook + inventory → what each node should look like (rendered locally, no SSH).
import { DEFAULTS } from '../inventory/defaults.js';
import type { Cluster, NodeSpec } from '../inventory/model.js';
import type { Playbook } from '../playbook/playbook.js';
import type { Renderer } from '../render/render.js';
import type { Desired } from './types.js';

export function desiredFor(playbook: Playbook, cluster: Cluster, renderer: Renderer, node: NodeSpec): Desired[] {
  return playbook.tasks.flatMap((t): Desired[] => {
    if ('package' in t) return [{ kind: 'package', task: t.name, names: t.package.names }];
    if ('managed_files' in t) {
      return renderer.managedFiles(node).map((f) => ({ kind: 'file', task: t.name, ...f }));
    }
    if ('template' in t) {
      const { src, dest, mode, validate, notify, secret } = t.template;
      return [{
        kind: 'file',
        task: t.name,
        path: dest,
        content: renderer.template(src, node),
        mode,
        // keepalived.conf holds auth_pass: treat it as secret whatever the playbook says.
        secret: secret ?? dest === DEFAULTS.keepalived.config_path,
        validate,
        notify,
      }];
    }
    if ('service' in t) return [{ kind: 'service', task: t.name, ...t.service }];
    if ('command' in t) return [{ kind: 'command', task: t.name, ...t.command }];
    if ('assert' in t) return [{ kind: 'assert', task: t.name, ...t.assert }];
    return [{ kind: 'assert_vip', task: t.name, timeoutS: t.assert_vip.timeout }];
  });
}
