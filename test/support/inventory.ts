// The validation table's base inventory, shared by the tests that mutate it.

// Line numbers matter: the validation table replaces whole lines and asserts the line reported.
/** Two nodes (a MASTER 100 at 10.0.0.11, b BACKUP 90 at 10.0.0.12), VI_1 with vrid 51, auth_pass secret1, VIP 10.0.0.100/32, check `chk`. */
export const BASE = `vrrp_scripts:
  chk:
    script: killall -0 haproxy
    interval: 1
vrrp_instances:
  VI_1:
    virtual_router_id: 51
    interface: eth0
    authentication:
      auth_pass: secret1
    virtual_ipaddresses:
      - 10.0.0.100/32
    track_scripts: [chk]
nodes:
  - name: a
    address: 10.0.0.11/24
    state: MASTER
    priority: 100
  - name: b
    address: 10.0.0.12/24
    state: BACKUP
    priority: 90
`;

/** BASE with whole lines replaced: [line number, new text]. */
export function edit(edits: Array<[number, string]>): string {
  const lines = BASE.split('\n');
  for (const [n, text] of edits) lines[n - 1] = text;
  return lines.join('\n');
}
