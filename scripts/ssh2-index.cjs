'use strict';
// ssh2's lib/index.js as the CLI bundle has it (scripts/bundle.mjs puts this file in its place):
// the same exports, each evaluated when first used. kadeploy uses Client, OpenSSHAgent and
// utils.parseKey; ssh2's own index also evaluates its SSH server and HTTP(S) agents, which load
// Node's net server, http, https and tls on every run that connects (bench/README.md,
// "Start-up: the launcher" has the figures).

/** Define each of `loaders` on `target` as a property computed on first read, then kept. */
function lazy(target, loaders) {
  for (const [name, load] of Object.entries(loaders)) {
    Object.defineProperty(target, name, {
      enumerable: true,
      configurable: true,
      get() {
        const value = load();
        Object.defineProperty(target, name, { value, enumerable: true, configurable: true, writable: true });
        return value;
      },
    });
  }
  return target;
}

const agent = () => require('ssh2/lib/agent.js');
const sftp = () => require('ssh2/lib/protocol/SFTP.js');
const keygen = () => require('ssh2/lib/keygen.js');

module.exports = lazy({}, {
  AgentProtocol: () => agent().AgentProtocol,
  BaseAgent: () => agent().BaseAgent,
  createAgent: () => agent().createAgent,
  Client: () => require('ssh2/lib/client.js'),
  CygwinAgent: () => agent().CygwinAgent,
  HTTPAgent: () => require('ssh2/lib/http-agents.js').SSHTTPAgent,
  HTTPSAgent: () => require('ssh2/lib/http-agents.js').SSHTTPSAgent,
  OpenSSHAgent: () => agent().OpenSSHAgent,
  PageantAgent: () => agent().PageantAgent,
  Server: () => require('ssh2/lib/server.js'),
  utils: () => lazy({}, {
    parseKey: () => require('ssh2/lib/protocol/keyParser.js').parseKey,
    generateKeyPair: () => keygen().generateKeyPair,
    generateKeyPairSync: () => keygen().generateKeyPairSync,
    sftp: () => {
      const { flagsToString, OPEN_MODE, STATUS_CODE, stringToFlags } = sftp();
      return { flagsToString, OPEN_MODE, STATUS_CODE, stringToFlags };
    },
  }),
});
