// A node's view of the cluster: an instance with the node's overrides merged in, and the node's address
// on a given interface. Shared by the rules (which report against the YAML) and resolve (which builds
// the model), so both agree on which value wins.
import { DEFAULTS } from './defaults.js';
import { parseCidr, type Cidr } from './ip.js';
import type { RawInstance, RawInventory, RawNode } from './schema.js';

export type InstanceView = RawInstance & { state?: 'MASTER' | 'BACKUP'; priority?: number; interface: string };

/** Instance fields as this node sees them: node.instances.NAME, then node-level state/priority/interface, then the instance. */
export function instanceView(inv: RawInventory, node: RawNode, name: string): InstanceView {
  const inst = inv.vrrp_instances[name]!;
  const own = node.instances?.[name] ?? {};
  const defined = Object.fromEntries(Object.entries(own).filter(([, v]) => v !== undefined));
  return {
    ...inst,
    ...defined,
    virtual_router_id: inst.virtual_router_id,
    state: own.state ?? node.state,
    priority: own.priority ?? node.priority,
    interface: own.interface ?? node.interface ?? inst.interface ?? DEFAULTS.instance.interface,
  } as InstanceView;
}

/** The interface the node's main `address` sits on: its own `interface`, else its first instance's. */
export function primaryInterface(inv: RawInventory, node: RawNode): string {
  if (node.interface) return node.interface;
  const first = Object.keys(inv.vrrp_instances)[0];
  return first ? instanceView(inv, node, first).interface : DEFAULTS.instance.interface;
}

/** The node's address on `iface`: `addresses.IFACE`, or the main address when `iface` is its primary interface. */
export function addressOn(inv: RawInventory, node: RawNode, iface: string): Cidr | undefined {
  const own = node.addresses?.[iface];
  if (own !== undefined) return parseCidr(own);
  return iface === primaryInterface(inv, node) ? parseCidr(node.address) : undefined;
}

/** IP family of an instance: that of its first VIP (keepalived requires one family per virtual_ipaddress). */
export function instanceFamily(inst: RawInstance): 4 | 6 {
  const first = inst.virtual_ipaddresses[0];
  const addr = typeof first === 'string' ? first : first?.address;
  return parseCidr(addr ?? '')?.family ?? 4;
}
