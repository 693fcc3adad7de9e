// The launcher (src/cli/kadeploy.sh, the package's bin) hides NODE_EXTRA_CA_CERTS from Node's own
// start (Node 20 loads that file at every start; kadeploy makes no TLS connection) and passes it
// on under another name: put it back, so every process kadeploy starts sees the environment the
// user gave it.

/** The variable the launcher moves NODE_EXTRA_CA_CERTS to. */
export const HIDDEN_CA_CERTS = 'KADEPLOY_HIDDEN_NODE_EXTRA_CA_CERTS';

/** Undo the launcher's move in `env` (a no-op when kadeploy was started without the launcher). */
export function restoreLauncherEnv(env: NodeJS.ProcessEnv = process.env): void {
  const hidden = env[HIDDEN_CA_CERTS];
  if (hidden === undefined) return;
  delete env[HIDDEN_CA_CERTS];
  env.NODE_EXTRA_CA_CERTS ??= hidden;
}
