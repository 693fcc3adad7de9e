// Task kind `managed_files`: the inventory's `files:` (check and notify scripts), each planned as a file.
import { z } from 'zod';
import type { Desired } from '../types.js';
import type { TaskKind } from './kind.js';

export const managedFilesKind: TaskKind<Record<string, never>> = {
  key: 'managed_files',
  args: z.strictObject({}),
  want: (_, task, { renderer, node }) => renderer.managedFiles(node).map((f) => ({ kind: 'file', task, ...f }) satisfies Desired),
};
