// Render each node's desired files locally: keepalived.conf plus the inventory's managed files
// (check and notify scripts). Deterministic: same inventory, same bytes.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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

/** How every template is compiled and run (scripts/bundle.mjs precompiles the built-in ones with them). */
export const TEMPLATE_OPTIONS = { autoescape: false, throwOnUndefined: true, trimBlocks: true, lstripBlocks: true };

/** One template environment per templates directory: a fleet's clusters share the compiled templates. */
const environments = new Map<string, nunjucks.Environment>();

function environment(templatesDir: string | undefined): nunjucks.Environment {
  const key = templatesDir ?? '';
  let env = environments.get(key);
  if (!env) {
    // The user's templates directory comes first, so any built-in template can be overridden by name.
    const user = templatesDir ? [new nunjucks.FileSystemLoader(templatesDir, { noCache: false })] : [];
    env = new nunjucks.Environment([...user, builtinLoader()], TEMPLATE_OPTIONS);
    env.addFilter('quote', (v: string | number) => quote(v));
    environments.set(key, env);
  }
  return env;
}

/** The built-in templates compiled by the build (dist/templates.cjs), if any: name → source hash and code. */
type Precompiled = Record<string, { sha256: string; code: unknown }>;

/**
 * The built-in templates: the build's compiled code while the file still has the content it was
 * compiled from (checked by hash: an edited template is compiled afresh, never run stale), else the file.
 */
export function builtinLoader(dir = BUILTIN_TEMPLATES, compiledFile = join(dir, '..', 'dist', 'templates.cjs')): nunjucks.ILoader {
  let precompiled: Precompiled = {};
  try {
    precompiled = createRequire(import.meta.url)(compiledFile) as Precompiled;
  } catch {
    // not built: every template is compiled at its first use
  }
  return {
    getSource(name: string) {
      const path = join(dir, name);
      let source: string;
      try {
        source = readFileSync(path, 'utf8');
      } catch {
        return null as unknown as nunjucks.LoaderSource; // not a built-in: nunjucks says "template not found"
      }
      const compiled = precompiled[name];
      const fresh = compiled && compiled.sha256 === createHash('sha256').update(source).digest('hex');
      return { src: fresh ? ({ type: 'code', obj: compiled.code } as unknown as string) : source, path, noCache: false };
    },
  };
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
