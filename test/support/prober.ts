// A 100 ms HTTP prober of a VIP: how long the service behind it was unreachable.
import { request } from 'node:http';

/**
 * GET http://VIP/ every 100 ms; the gap is the longest time without a successful answer.
 * keepAlive false: a new connection per request (node's default agent keeps one open).
 */
export function startProber(vip: string, opts: { keepAlive?: boolean } = {}) {
  let running = true;
  const stats = { sent: 0, failed: 0, longestGapMs: 0 };
  let lastOk = Date.now();
  const one = () =>
    new Promise<boolean>((resolve) => {
      const req = request({ host: vip, port: 80, path: '/', timeout: 500, ...(opts.keepAlive === false ? { agent: false } : {}) }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      stats.sent++;
      if (await one()) {
        stats.longestGapMs = Math.max(stats.longestGapMs, Date.now() - lastOk);
        lastOk = Date.now();
      } else stats.failed++;
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - started))));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      stats.longestGapMs = Math.max(stats.longestGapMs, Date.now() - lastOk);
      return stats;
    },
  };
}
