/**
 * The machine's PostgreSQL for tests (PG_TEST_URL, default postgres://postgres@127.0.0.1:5432):
 * each test creates its own uniquely named database and drops it afterwards. `pgSkip` is a
 * reason to skip when no server answers (set before the tests are declared), else false.
 * `TcpSwitch` stands between cliproxy and PostgreSQL so a test can take "the database" down
 * (connections refused and cut) or make it hang, without touching the shared server.
 */
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import pg from 'pg';

const BASE = process.env.PG_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432';

const withDb = (db: string, base = BASE): string => {
  const url = new URL(base);
  url.pathname = `/${db}`;
  return url.toString();
};

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: withDb('postgres'), connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function reachable(): Promise<string | false> {
  try {
    await admin((c) => c.query('SELECT 1'));
    return false;
  } catch (err) {
    return `no PostgreSQL reachable at ${BASE} (${(err as Error).message}); set PG_TEST_URL to run these tests`;
  }
}

export const pgSkip: string | false = await reachable();
if (pgSkip) console.log(`# SKIP PostgreSQL tests: ${pgSkip}`);

export interface TestDatabase {
  readonly name: string;
  /** postgres://... of the new database. */
  readonly url: string;
  /** The same database through another host:port (a TcpSwitch). */
  via(host: string, port: number): string;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  /** A statement on the server's maintenance database (roles are cluster-wide). Run after the test database is dropped when used in t.after. */
  admin(sql: string): Promise<void>;
}

/** A fresh database, dropped (connections and all) when the test ends. */
export async function testDatabase(t: TestContext): Promise<TestDatabase> {
  const name = `cliproxy_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = withDb(name);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  t.after(async () => {
    await pool.end();
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  });
  return {
    name,
    url,
    via(host, port) {
      const u = new URL(url);
      u.hostname = host;
      u.port = String(port);
      return u.toString();
    },
    query: (sql, params) => pool.query(sql, params),
    admin: async (sql) => void (await admin((c) => c.query(sql))),
  };
}

/** A TCP relay to PostgreSQL that a test can switch: up, down (refused, open connections cut), hang. */
export class TcpSwitch {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private mode: 'up' | 'hang' = 'up';
  port = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  static async start(target = BASE): Promise<TcpSwitch> {
    const url = new URL(target);
    const relay = new TcpSwitch(url.hostname, Number(url.port || 5432));
    await relay.listen(0);
    return relay;
  }

  private listen(port: number): Promise<void> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private accept(client: Socket): void {
    this.track(client);
    if (this.mode === 'hang') return; // accepted, never answered: a database that stopped responding
    const upstream = connect(this.targetPort, this.targetHost);
    this.track(upstream);
    client.pipe(upstream).pipe(client);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cut).on('close', cut);
    upstream.on('error', cut).on('close', cut);
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
  }

  private cutAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** Refuses new connections (nothing listens) and cuts the open ones: the server went away. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.cutAll();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Accepts connections but relays nothing, and cuts the open ones: the server hangs. */
  hang(): void {
    this.mode = 'hang';
    this.cutAll();
  }

  /** Back to relaying, on the same port. */
  async up(): Promise<void> {
    this.mode = 'up';
    for (const s of this.sockets) s.destroy(); // hung connections are dropped, as on a restart
    if (!this.server) await this.listen(this.port);
  }

  async close(): Promise<void> {
    await this.down();
  }
}
