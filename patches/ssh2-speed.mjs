// Speed per SSH connection in ssh2 1.17.0 (run by `npm install`/`npm ci` as postinstall, after the
// certificate patch): CPU savings, none of which changes what is sent, checked or trusted (measured in
// bench/README.md, "Issue 15: kadeploy's CPU per host"), and one SSH_MSG_IGNORE that ends a stall
// ("Issue 15: the first command's 40 ms"). An ssh2 of another version is left as it is (only slower).
import { applyEdits } from './apply-edits.mjs';

const MARK = '/* kadeploy: speed */';

const edits = [
  {
    // OpenSSH announces its host keys after authentication (hostkeys-00@openssh.com, for UpdateHostKeys);
    // ssh2 then asks the server to sign every one of them and verifies each signature, only to emit a
    // 'hostkeys' event. kadeploy never listens to it (the host was authenticated by the key exchange,
    // against known_hosts): skip the proof when nobody listens. The request is still answered.
    file: 'lib/client.js',
    find: `            case 'hostkeys-00@openssh.com':
              // Automatically verify keys before passing to end user
              hostKeysProve(this, data, (err, keys) => {`,
    replace: `            case 'hostkeys-00@openssh.com':
              // Automatically verify keys before passing to end user
              if (this.listenerCount('hostkeys') > 0) ${MARK} hostKeysProve(this, data, (err, keys) => {`,
  },
  {
    // OpenSSH's sshd leaves Nagle on for sessions without a terminal, and sends hostkeys-00 (no reply
    // wanted) right after authentication: the answer to the first channel open then waits in its send
    // buffer until that packet is acknowledged, and Linux delays the client's bare ACK by 40 ms — the
    // first command of every connection took ~50 ms instead of ~5. An IGNORE message (RFC 4253 §11.2:
    // every implementation discards it) carries the ACK at once. Nothing else changes.
    file: 'lib/client.js',
    find: `                this.emit('hostkeys', keys);
              });
              if (wantReply)
                proto.requestSuccess();
              break;`,
    replace: `                this.emit('hostkeys', keys);
              });
              if (wantReply)
                proto.requestSuccess();
              else ${MARK}
                proto.ignore();
              break;`,
  },
  {
    file: 'lib/protocol/Protocol.js',
    find: `  rekey() {
    if (this._kexinit === undefined) {`,
    replace: `  ignore() { ${MARK}
    const p = this._packetRW.write.allocStart;
    const packet = this._packetRW.write.alloc(5);
    packet[p] = MESSAGE.IGNORE;
    writeUInt32BE(packet, 0, p + 1); // an empty string
    this._debug && this._debug('Outbound: Sending IGNORE');
    sendPacket(this, this._packetRW.write.finalize(packet));
  }
  rekey() {
    if (this._kexinit === undefined) {`,
  },
  {
    // A key file's public key is first offered without a signature ("would you accept this key?"),
    // and signed only after the server says yes: one round trip more per connection. RFC 4252 lets
    // the client send the signed request at once, as for a key it knows to be accepted; a refused key
    // still ends in USERAUTH_FAILURE, and ssh2 goes on as before. The signature covers this session's
    // id, so it is worth nothing elsewhere. Agent keys keep the query (each signature may prompt).
    file: 'lib/client.js',
    find: `            proto.authPK(username, curAuth.key, keyAlgo);
            break;
          }
          case 'hostbased': {`,
    replace: `            const hashAlgo = curAuth.keyAlgos && curAuth.keyAlgos[0][1];
            ${MARK}
            proto.authPK(username, curAuth.key, keyAlgo, (buf, cb) => {
              const signature = curAuth.key.sign(buf, hashAlgo);
              if (signature instanceof Error) {
                signature.message =
                  \`Error signing data with key: \${signature.message}\`;
                signature.level = 'client-authentication';
                this.emit('error', signature);
                return tryNextAuth();
              }
              cb(signature);
            });
            break;
          }
          case 'hostbased': {`,
  },
  {
    // curve25519 key exchange: the raw 32-byte public keys go in and out through JWK, where OpenSSL 3's
    // DER encoder and decoder cost ~85-100 us a call (three calls per connection). Same bytes, same checks.
    file: 'lib/protocol/kex.js',
    find: `      const key = this._keys.publicKey.export({ type: 'spki', format: 'der' });
      return key.slice(-32); // HACK: avoids parsing DER/BER header`,
    replace: `      ${MARK}
      return Buffer.from(this._keys.publicKey.export({ format: 'jwk' }).x, 'base64url');`,
  },
  {
    file: 'lib/protocol/kex.js',
    find: `        return convertToMpint(diffieHellman({
          privateKey: this._keys.privateKey,
          publicKey: createPublicKey({
            key: asnWriter.buffer,
            type: 'spki',
            format: 'der',
          }),
        }));`,
    replace: `        ${MARK}
        if (otherPublicKey.length !== 32)
          throw new Error('Invalid X25519 public key length');
        return convertToMpint(diffieHellman({
          privateKey: this._keys.privateKey,
          publicKey: createPublicKey({
            key: { kty: 'OKP', crv: 'X25519', x: otherPublicKey.toString('base64url') },
            format: 'jwk',
          }),
        }));`,
  },
  {
    // Importing a private key from its PEM costs about ten times the Ed25519 signature itself:
    // import it once per parsed key, then sign with the KeyObject.
    file: 'lib/protocol/keyParser.js',
    find: `        try {
          return sign_(algo, data, pem);
        } catch (ex) {`,
    replace: `        try {
          ${MARK}
          if (this._kadeployKeyObject === undefined) this._kadeployKeyObject = createPrivateKey(pem);
          return sign_(algo, data, this._kadeployKeyObject);
        } catch (ex) {`,
  },
  {
    file: 'lib/protocol/keyParser.js',
    find: `const {
  createDecipheriv,
  createECDH,`,
    replace: `const {
  createPrivateKey, ${MARK}
  createDecipheriv,
  createECDH,`,
  },
  {
    // Closing a channel whose writable side has ended: end() again only builds (and formats) an
    // ERR_STREAM_ALREADY_FINISHED error that nobody receives, once per command.
    file: 'lib/Channel.js',
    find: `  destroy() {
    this.end();
    this.close();`,
    replace: `  destroy() {
    if (!this.writableEnded) ${MARK} this.end();
    this.close();`,
  },
  {
    // Loaded at every start, used only with compression (kadeploy offers none) or a host name with
    // forceIPv4/forceIPv6 (kadeploy opens the socket itself): an inflate stream made to find zlib's
    // handle class (~0.8 ms of CPU), and Node's dns module (~0.7 ms). Both now on first use.
    file: 'lib/protocol/zlib.js',
    find: `const ZlibHandle = createInflate()._handle.constructor;`,
    replace: `let ZlibHandle; ${MARK}`,
  },
  {
    file: 'lib/protocol/zlib.js',
    find: `    this._handle = new ZlibHandle(mode);`,
    replace: `    if (ZlibHandle === undefined) ${MARK} ZlibHandle = createInflate()._handle.constructor;
    this._handle = new ZlibHandle(mode);`,
  },
  {
    file: 'lib/client.js',
    find: `const { lookup: dnsLookup } = require('dns');`,
    replace: `const dnsLookup = (...args) => require('dns').lookup(...args); ${MARK}`,
  },
];

applyEdits(edits, { expectedVersion: '1.17.0', what: 'apply the CPU savings' });
