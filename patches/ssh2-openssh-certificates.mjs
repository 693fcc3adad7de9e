// Teach ssh2 1.17.0 the OpenSSH certificate key algorithms (run by `npm install`/`npm ci` as postinstall).
// ssh2 has no OpenSSH certificate support and no hook for it (github.com/mscdex/ssh2 issues #1103,
// #808): a user certificate needs its signature named by the plain algorithm, and a host certificate
// must be negotiated, and the exchange hash verified with the key inside it. The four edits below do
// only that; trust decisions (CA, validity, principals, @revoked) stay in kadeploy (src/ssh/certificate.ts,
// src/ssh/known-hosts.ts). Each edit is found by exact text; a different ssh2 version fails loudly, and
// running twice changes nothing.
import { applyEdits } from './apply-edits.mjs';

const MARK = '/* kadeploy: OpenSSH certificates */';
const EXPECTED_VERSION = '1.17.0';

const edits = [
  {
    file: 'lib/protocol/constants.js',
    find: `const SUPPORTED_SERVER_HOST_KEY = DEFAULT_SERVER_HOST_KEY.concat([
  'ssh-dss',
]);`,
    replace: `const SUPPORTED_SERVER_HOST_KEY = DEFAULT_SERVER_HOST_KEY.concat([
  'ssh-dss',
  ${MARK}
  'ssh-ed25519-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'ecdsa-sha2-nistp384-cert-v01@openssh.com',
  'ecdsa-sha2-nistp521-cert-v01@openssh.com',
  'rsa-sha2-512-cert-v01@openssh.com',
  'rsa-sha2-256-cert-v01@openssh.com',
]);`,
  },
  {
    // The host key blob of a negotiated certificate algorithm is a certificate of the matching type.
    file: 'lib/protocol/kex.js',
    find: `            if (hostPubKeyType !== this.negotiated.serverHostKey) {
              // Check if we need to make an exception
              switch (this.negotiated.serverHostKey) {`,
    replace: `            if (hostPubKeyType !== this.negotiated.serverHostKey
                && hostPubKeyType !== ${MARK} this.negotiated.serverHostKey.replace(/^rsa-sha2-(256|512)-cert/, 'ssh-rsa-cert')) {
              // Check if we need to make an exception
              switch (this.negotiated.serverHostKey) {`,
  },
  {
    // The exchange hash is signed with the certificate's key, under the plain algorithm's name.
    file: 'lib/protocol/kex.js',
    find: `        if (sigType !== negotiated.serverHostKey) {`,
    replace: `        const certKex = ${MARK} negotiated.serverHostKey.endsWith('-cert-v01@openssh.com');
        const plainKex = negotiated.serverHostKey.replace('-cert-v01@openssh.com', '');
        if (sigType !== plainKex) {`,
  },
  {
    file: 'lib/protocol/kex.js',
    find: `          bufferParser.init(this._hostKey, 0);
          const name = bufferParser.readString(true);
          const hostKey = this._hostKey.slice(bufferParser.pos());
          bufferParser.clear();
          parsedHostKey = parseDERKey(hostKey, name);`,
    replace: `          bufferParser.init(this._hostKey, 0);
          let name = bufferParser.readString(true);
          let hostKey = this._hostKey.slice(bufferParser.pos());
          if (certKex) { ${MARK}
            // string nonce, then the plain key's fields (ed25519: 1, ecdsa: 2, rsa: 2).
            name = name.replace('-cert-v01@openssh.com', '');
            bufferParser.readString();
            const start = bufferParser.pos();
            const fields = name === 'ssh-ed25519' ? 1 : 2;
            for (let i = 0; i < fields; ++i) bufferParser.readString();
            hostKey = this._hostKey.slice(start, bufferParser.pos());
          }
          bufferParser.clear();
          parsedHostKey = parseDERKey(hostKey, name);`,
  },
  {
    file: 'lib/protocol/kex.js',
    find: `        switch (this.negotiated.serverHostKey) {
          case 'rsa-sha2-256': hashAlgo = 'sha256'; break;
          case 'rsa-sha2-512': hashAlgo = 'sha512'; break;
        }

        this._protocol._debug
          && this._protocol._debug('Verifying signature ...');`,
    replace: `        switch (${MARK} plainKex) {
          case 'rsa-sha2-256': hashAlgo = 'sha256'; break;
          case 'rsa-sha2-512': hashAlgo = 'sha512'; break;
        }

        this._protocol._debug
          && this._protocol._debug('Verifying signature ...');`,
  },
  {
    // A user certificate is offered under its certificate algorithm; the signature is named and
    // encoded by the plain one (RFC 4252 + PROTOCOL.certkeys).
    file: 'lib/protocol/Protocol.js',
    find: `    cbSign(packet, (signature) => {
      signature = convertSignature(signature, keyType);
      if (signature === false)
        throw new Error('Error while converting handshake signature');

      const sigLen = signature.length;
      p = this._packetRW.write.allocStart;
      packet = this._packetRW.write.alloc(
        1 + 4 + userLen + 4 + 14 + 4 + 9 + 1 + 4 + algoLen + 4 + pubKeyLen + 4
          + 4 + algoLen + 4 + sigLen
      );`,
    replace: `    cbSign(packet, (signature) => {
      ${MARK}
      const sigAlgo = keyAlgo.replace('-cert-v01@openssh.com', '');
      const sigAlgoLen = Buffer.byteLength(sigAlgo);
      signature = convertSignature(signature, keyType.replace('-cert-v01@openssh.com', ''));
      if (signature === false)
        throw new Error('Error while converting handshake signature');

      const sigLen = signature.length;
      p = this._packetRW.write.allocStart;
      packet = this._packetRW.write.alloc(
        1 + 4 + userLen + 4 + 14 + 4 + 9 + 1 + 4 + algoLen + 4 + pubKeyLen + 4
          + 4 + sigAlgoLen + 4 + sigLen
      );`,
  },
  {
    file: 'lib/protocol/Protocol.js',
    find: `      writeUInt32BE(packet, 4 + algoLen + 4 + sigLen, p += pubKeyLen);

      writeUInt32BE(packet, algoLen, p += 4);
      packet.utf8Write(keyAlgo, p += 4, algoLen);

      writeUInt32BE(packet, sigLen, p += algoLen);
      packet.set(signature, p += 4);

      // Servers shouldn't send packet type 60 in response to signed publickey`,
    replace: `      writeUInt32BE(packet, 4 + sigAlgoLen + 4 + sigLen, p += pubKeyLen);

      writeUInt32BE(packet, sigAlgoLen, p += 4);
      packet.utf8Write(sigAlgo, p += 4, sigAlgoLen); ${MARK}

      writeUInt32BE(packet, sigLen, p += sigAlgoLen);
      packet.set(signature, p += 4);

      // Servers shouldn't send packet type 60 in response to signed publickey`,
  },
];

if (!applyEdits(edits, { expectedVersion: EXPECTED_VERSION, what: 'add OpenSSH certificate support' })) process.exit(1);
