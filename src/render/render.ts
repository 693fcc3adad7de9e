// Render each node's desired files locally: keepalived.conf plus the inventory's managed files
// (check and notify scripts). Deterministic: same inventory, same bytes.
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nunjucks from 'nunjucks';
import { RenderError } from '../errors.js';
import { DEFAULTS } from '../inventory/defaults.js';
import type { Cluster, NodeSpec } from '../inventory/model.js';
import { quote } from '../shell/quote.js';
import { spellings } from './keepalived-versions.js';

/** Built-in templates ship beside src/ and dist/ (both are one level below the package root). */
export const BUILTIN_TEMPLATES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'templates');

export const KEEPALIVED_TEMPLATE = 'keepalived.conf.njk';

export interface DesiredFile {
  path: string;
  content: string;
  /** Octal mode string, e.g. "0640". */
  mode: string;
  /** keepalived.conf carries auth_pass: never shown unmasked. */
  secret: boolean;
  /** Command that validates the file on the node before it replaces the old one (FILE = temp path). */
  validate?: 'keepalived';
}

export { RenderError };

export interface Renderer {
  /** Render one template (user directory first, then built-in) for a node. */
  template(name: string, node: NodeSpec): string;
  /** The inventory's managed files (check/notify scripts), in inventory order. */
  managedFiles(node: NodeSpec): DesiredFile[];
  /** Everything `kadeploy render` shows for a node: managed files, then keepalived.conf. */
  nodeFiles(node: NodeSpec): DesiredFile[];
}

/** One template environment per templates directory: a fleet's clusters share the compiled templates. */
const environments = new Map<string, nunjucks.Environment>();

function environment(templatesDir: string | undefined): nunjucks.Environment {
  const key = templatesDir ?? '';
  let env = environments.get(key);
  if (!env) {
    // The user's templates directory comes first, so any built-in template can be overridden by name.
    const dirs = templatesDir ? [templatesDir, BUILTIN_TEMPLATES] : [BUILTIN_TEMPLATES];
    env = new nunjucks.Environment(new nunjucks.FileSystemLoader(dirs, { noCache: false }), {
      autoescape: false,
      throwOnUndefined: true,
      trimBlocks: true,
      lstripBlocks: true,
    });
    env.addFilter('quote', (v: string | number) => quote(v));
    environments.set(key, env);
  }
  return env;
}

/** `keepalivedVersion`: the node's keepalived (facts), so directives are spelled the way it understands; unknown: the newest spelling. */
export function createRenderer(cluster: Cluster, keepalivedVersion: (node: string) => string | undefined = () => undefined): Renderer {
  const env = environment(cluster.templatesDir);

  const render = (template: string, node: NodeSpec): string => {
    const context = {
      node,
      cluster,
      global_defs: node.globalDefs,
      vrrp_scripts: node.vrrpScripts,
      vars: node.vars,
      // keepalived has one LVS sync daemon: the first instance that asks for it gets it.
      lvs_sync: node.instances.find((i) => i.lvsSyncDaemonInterface),
      kw: spellings(keepalivedVersion(node.name)),
    };
    try {
      return env.render(template, context);
    } catch (e) {
      // nunjucks prefixes a path and stack-like lines; keep its first useful line.
      const msg = String((e as Error).message).split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
      throw new RenderError(`rendering ${template} for node ${node.name}: ${msg}`);
    }
  };

  const managedFiles = (node: NodeSpec): DesiredFile[] =>
    cluster.files.map((f) => ({
      path: f.path,
      content: f.content ?? render(f.template ?? basename(f.path), node),
      mode: f.mode,
      secret: false,
    }));

  return {
    template: render,
    managedFiles,
    nodeFiles: (node) => [
      ...managedFiles(node),
      {
        path: DEFAULTS.keepalived.config_path,
        content: render(KEEPALIVED_TEMPLATE, node),
        mode: DEFAULTS.config_mode,
        secret: true,
        validate: 'keepalived',
      },
    ],
  };
}
