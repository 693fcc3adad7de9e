// Every default value of the inventory lives here, so "what happens if I leave it out" has one answer.

export const DEFAULTS = {
  ssh: {
    user: 'root',
    port: 22,
    known_hosts: '~/.ssh/known_hosts',
    host_key_policy: 'strict' as const,
    sudo: false,
    connect_timeout: 10, // seconds
    command_timeout: 300, // seconds; apt installs can be slow
  },
  forks: 10,
  node_wait_timeout: 300, // seconds a run waits for a node that is booting or rebooting (src/apply/node-wait.ts)
  firewall: 'check' as const,
  global_defs: {
    // keepalived >= 2.0 refuses to run scripts as root without script security ("SECURITY VIOLATION").
    enable_script_security: true,
    script_user: 'root',
  },
  instance: {
    advert_int: 1,
    interface: 'eth0',
  },
  vip: {},
  keepalived: {
    config_path: '/etc/keepalived/keepalived.conf',
    packages: ['keepalived', 'psmisc'], // psmisc provides killall, used by the usual HAProxy check
    service: 'keepalived',
  },
  file_mode: '0755',
  config_mode: '0640',
} as const;
