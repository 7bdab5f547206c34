/**
 * Command-line options and the run plan: how long each measurement lasts, how many interleaved
 * rounds, the stream shapes. `--quick` is the ~30 s version; the full run takes ~4-5 minutes.
 */
import { parseArgs } from 'node:util';

export const HELP = `npm run bench -- [options]

  --quick               ~40 s version (2 rounds, short segments)
  --rounds N            interleaved rounds (default 5, quick 2)
  --rate N              fixed offered load, non-stream requests/s (default 500)
  --stream-rate N       fixed offered load for the time-to-first-chunk test, streams/s (default 100)
  --connections N       connections for the saturation tests (default 50)
  --open-streams N      concurrent streams for the memory test (default 1000)
  --open-rate N         streams opened per second in the memory test (default 1000)
  --body-kb N           pad each request with earlier conversation turns to ~N KB more
                        (default 0: a ~0.3 KB request)
  --mock-port N         port of the mock upstream (default: a free one); fix it to start a peer
                        gateway against the mock before the run
  --peer-url URL        OpenAI base URL (…/v1) of another gateway started against the mock
                        (loopback only); measured as a fourth target
  --peer-key KEY        client key the peer expects (sent as Authorization: Bearer)
  --peer-model NAME     model name the peer serves for the mock (default bench-model)
  --peer-name NAME      label in the table (default peer)
  --peer-pid PID        the peer's process (its children are included) for CPU and memory figures
  --out FILE            results file (default bench/results/latest.json)
  --cli FILE            the cliproxy entry point to measure (default dist/cli.js), e.g. a patched copy
  --workers N           instead of the above: saturation req/s of cliproxy with 1 and with N
                        worker processes (bench/workers.mjs)
  -h, --help            this text
`;

const int = (value, name, min = 1) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer ≥ ${min}, got "${value}"`);
  return n;
};

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export function parsePlan(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      rate: { type: 'string', default: '500' },
      'stream-rate': { type: 'string', default: '100' },
      connections: { type: 'string', default: '50' },
      'open-streams': { type: 'string', default: '1000' },
      'open-rate': { type: 'string', default: '1000' },
      'body-kb': { type: 'string', default: '0' },
      'mock-port': { type: 'string', default: '0' },
      'peer-url': { type: 'string' },
      'peer-key': { type: 'string' },
      'peer-model': { type: 'string', default: 'bench-model' },
      'peer-name': { type: 'string', default: 'peer' },
      'peer-pid': { type: 'string' },
      out: { type: 'string' },
      cli: { type: 'string' },
      workers: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  const quick = values.quick;
  let peer;
  if (values['peer-url']) {
    const url = new URL(values['peer-url'].replace(/\/+$/, ''));
    if (!LOOPBACK.has(url.hostname) && !url.hostname.startsWith('127.')) {
      throw new Error(`--peer-url: the benchmark only sends traffic over loopback; got host ${url.hostname}`);
    }
    peer = {
      name: values['peer-name'],
      base: url.href,
      key: values['peer-key'],
      model: values['peer-model'],
      pid: values['peer-pid'] ? int(values['peer-pid'], 'peer-pid') : undefined,
    };
  }
  const openStreams = int(values['open-streams'], 'open-streams');
  return {
    help: values.help,
    quick,
    rounds: values.rounds ? int(values.rounds, 'rounds') : quick ? 2 : 5,
    mockPort: int(values['mock-port'], 'mock-port', 0),
    bodyKb: int(values['body-kb'], 'body-kb', 0),
    out: values.out,
    cli: values.cli,
    workers: values.workers === undefined ? undefined : int(values.workers, 'workers'),
    peer,
    /** Seconds of unrecorded load per target before the rounds (JIT, pools, connections). */
    warmSeconds: quick ? 0.5 : 2,
    fixed: { rate: int(values.rate, 'rate'), seconds: quick ? 1 : 4 },
    saturate: { connections: int(values.connections, 'connections'), seconds: quick ? 0.75 : 4 },
    // Chunks 2 ms apart: a proxy that held a chunk back until the next one arrived would add 2 ms.
    ttfc: { rate: int(values['stream-rate'], 'stream-rate'), seconds: quick ? 0.75 : 3, mode: { chunks: 20, ttfbMs: 0, delayMs: 2 } },
    streams: { connections: int(values.connections, 'connections'), seconds: quick ? 0.75 : 3, mode: { chunks: 20, ttfbMs: 0, delayMs: 0 } },
    open: openPhase(openStreams, int(values['open-rate'], 'open-rate'), quick),
  };
}

/**
 * The memory phase: `count` streams opened at a steady `rate`, each living long enough (20 chunks)
 * that the first is still open when the last opens, so all are open at once.
 */
function openPhase(count, rate, quick) {
  const rampMs = Math.ceil((count / rate) * 1000);
  const chunks = 20;
  const delayMs = Math.max(quick ? 100 : 300, Math.ceil((rampMs + 3000) / chunks));
  return { count, rate, rampMs, mode: { chunks, ttfbMs: 0, delayMs } };
}
