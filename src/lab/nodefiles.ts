// Files that make a node itself, written into its overlay before it boots.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LabConfig, NodeSpec } from './config.js';
import { makeHostKey } from './keys.js';

/** Minimal HAProxy: port 80 answers with the node's name, so a probe through the VIP shows who holds it. */
export function haproxyConfig(node: string): string {
  return `# kadeploy lab node ${node} (written by \`kadeploy lab up\`)
global
	log /dev/log local0
	chroot /var/lib/haproxy
	stats socket /run/haproxy/admin.sock mode 660 level admin
	user haproxy
	group haproxy
	daemon

defaults
	log global
	mode http
	timeout connect 5s
	timeout client 30s
	timeout server 30s

frontend lab
	bind :80
	http-request return status 200 content-type text/plain string "${node}\\n"
`;
}

function put(root: string, path: string, content: string, mode = 0o644): void {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  chmodSync(file, mode);
}

/** Write the node's identity, proxy, HAProxy and SSH files; returns its public host key. */
export async function writeNodeFiles(root: string, node: NodeSpec, cfg: LabConfig, clientKey: string): Promise<string> {
  put(root, 'etc/hostname', `${node.name}\n`);
  put(root, 'etc/hosts', `127.0.0.1\tlocalhost\n127.0.1.1\t${node.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n`);
  // A machine id of its own: nodes sharing one would confuse journald and DHCP-like identities.
  put(root, 'etc/machine-id', `${randomBytes(16).toString('hex')}\n`, 0o444);
  put(root, 'etc/apt/apt.conf.d/01kadeploy-lab-proxy', `Acquire::http::Proxy "${cfg.proxyUrl}";\n`);
  put(root, 'etc/haproxy/haproxy.cfg', haproxyConfig(node.name));
  mkdirSync(join(root, 'root/.ssh'), { recursive: true, mode: 0o700 });
  put(root, 'root/.ssh/authorized_keys', `${clientKey}\n`, 0o600);
  return makeHostKey(join(root, 'etc/ssh/ssh_host_ed25519_key'), `root@${node.name}`);
}
