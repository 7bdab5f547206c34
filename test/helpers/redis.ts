/**
 * A real redis-server (Debian's package) for tests: its own process on a free loopback port,
 * persistence off, so it can be killed (SIGKILL, as a crash) and started again empty on the same
 * port, the way a Redis without persistence comes back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { Redis } from 'ioredis';

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** SIGKILL: a crash, nothing saved. */
  kill(): Promise<void>;
  /** Starts a new, empty server on the same port. */
  restart(): Promise<void>;
  /** Deletes every key (between test cases). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function launch(port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`redis-server: timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  let child = launch(port);
  const started = async () => {
    const failed = new Promise<boolean>((resolve) => child.once('error', () => resolve(false)));
    await waitUntil(() => Promise.race([accepting(port), failed]), `it listens on ${port} (is the redis-server package installed?)`);
  };
  await started();
  const url = `redis://127.0.0.1:${port}`;
  const stopChild = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    await waitUntil(async () => !(await accepting(port)), 'it stopped');
  };
  return {
    url,
    port,
    kill: stopChild,
    async restart() {
      await stopChild();
      child = launch(port);
      await started();
    },
    async flush() {
      const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await client.connect();
      await client.flushall();
      await client.quit();
    },
    stop: stopChild,
  };
}
