// The lab's public API: bring a lab of systemd-nspawn nodes up and down, inspect it, inject faults.
export { labUp, type LabUpOptions, type LabUpResult } from './up.js';
export { labDown, type LabDownOptions } from './down.js';
export { labStatus, type LabStatus, type NodeStatus } from './status.js';
export { cutLink, nodeExec, restoreLink, startNode, startService, stopNode, stopService, type LabRef } from './faults.js';
export { labConfig, DEFAULT_LAB, DEFAULT_RELEASE, MAX_NODES, RELEASES, type LabConfig, type LabOptions, type NodeSpec, type Release } from './config.js';
export { labUnsupportedReason } from './host.js';
export { labInventory } from './inventory.js';
export type { RunResult } from './exec.js';
