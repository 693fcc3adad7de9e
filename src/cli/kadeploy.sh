#!/bin/sh
# kadeploy's executable, the package's `bin` (scripts/bundle.mjs copies this file to dist/cli/kadeploy).
# It runs Node on dist/cli/start.cjs, the CommonJS build of src/cli/start.ts (dist/cli/main.js is
# the same as an ES module, which costs Node ~6 ms more to start), with NODE_EXTRA_CA_CERTS hidden
# from Node's start: Node 20 reads and parses that file at every start (~45 ms of CPU for the usual
# system bundle) and kadeploy makes no TLS connection. start.ts gives the variable back to the
# processes kadeploy starts. Figures: bench/README.md, "Start-up: the launcher".

# npm links a bin as a symlink (relative, maybe to another link): follow them to dist/cli/.
self=$0
while [ -L "$self" ]; do
  case $self in */*) dir=${self%/*} ;; *) dir=. ;; esac
  link=$(readlink "$self") || break
  case $link in /*) self=$link ;; *) self=$dir/$link ;; esac
done
case $self in */*) here=${self%/*} ;; *) here=. ;; esac

if [ "${NODE_EXTRA_CA_CERTS+set}" = set ]; then
  KADEPLOY_HIDDEN_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS
  export KADEPLOY_HIDDEN_NODE_EXTRA_CA_CERTS
  unset NODE_EXTRA_CA_CERTS
else
  unset KADEPLOY_HIDDEN_NODE_EXTRA_CA_CERTS
fi
exec node "$here/start.cjs" "$@"
