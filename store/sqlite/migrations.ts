/**
 * The versioned schema of the embedded store, applied in order at start.
 * A migration is never edited once released: add a new one.
 *
 * @module
 */

/** One schema step. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Every migration of the SQLite store, oldest first. */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "node metadata",
    sql: `CREATE TABLE node_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  },
  {
    version: 2,
    name: "node secrets, users and keys",
    sql: `
      CREATE TABLE node_secrets (
        name TEXT PRIMARY KEY,
        key_id INTEGER NOT NULL,
        ciphertext BLOB NOT NULL
      );
      CREATE INDEX node_secrets_key_id ON node_secrets (key_id);
      CREATE TABLE users (
        name TEXT PRIMARY KEY,
        roles TEXT NOT NULL,
        groups_json TEXT NOT NULL,
        email_hash TEXT UNIQUE,
        created_at TEXT NOT NULL,
        version INTEGER NOT NULL
      );
      CREATE TABLE user_keys (
        id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        public_key_pem TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX user_keys_user ON user_keys (user_name);
    `,
  },
  {
    version: 3,
    name: "versions, groups, sessions, agent tokens and audit",
    sql: `
      CREATE TABLE resource_versions (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        time TEXT NOT NULL,
        actor TEXT NOT NULL,
        request_id TEXT NOT NULL,
        snapshot TEXT NOT NULL,
        PRIMARY KEY (kind, id, version)
      ) WITHOUT ROWID;
      -- Users from before versions were kept get their current settings as
      -- their first recorded version.
      INSERT INTO resource_versions
        (kind, id, version, time, actor, request_id, snapshot)
      SELECT 'user', name, version, created_at, 'system', '',
        json_object('roles', json(roles), 'groups', json(groups_json),
          'emailHash', email_hash)
      FROM users;
      CREATE TABLE groups (
        name TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX sessions_expires_at ON sessions (expires_at);
      CREATE INDEX sessions_user ON sessions (user_name);
      CREATE TABLE agent_tokens (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        scopes TEXT NOT NULL,
        description TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        expires_at INTEGER
      );
      CREATE INDEX agent_tokens_user ON agent_tokens (user_name, created_at, id);
      CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        time TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        resource TEXT NOT NULL,
        request_id TEXT NOT NULL,
        result TEXT NOT NULL,
        version INTEGER,
        detail TEXT NOT NULL
      );
      CREATE INDEX audit_resource ON audit (resource, seq);
      CREATE INDEX audit_actor ON audit (actor, seq);
      CREATE INDEX audit_time ON audit (time);
      CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit
      BEGIN
        SELECT RAISE(ABORT, 'audit is append-only');
      END;
    `,
  },
  {
    version: 4,
    name: "topics, subscriptions, the event log and delivery state",
    // seq is AUTOINCREMENT, not a bare rowid: SQLite reuses the largest rowid
    // once its row is deleted, and a seq handed out twice would hide the new
    // event behind subscription cursors that already passed the old one.
    sql: `
      CREATE TABLE topics (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        owner TEXT NOT NULL,
        ack TEXT NOT NULL,
        retention_ms INTEGER NOT NULL,
        max_body_bytes INTEGER,
        grants TEXT NOT NULL,
        created_at TEXT NOT NULL,
        version INTEGER NOT NULL
      );
      CREATE TABLE subscriptions (
        id TEXT PRIMARY KEY,
        topic_id TEXT NOT NULL REFERENCES topics (id),
        owner TEXT NOT NULL,
        url TEXT NOT NULL,
        liveness_url TEXT NOT NULL,
        ordered INTEGER NOT NULL,
        max_in_flight INTEGER NOT NULL,
        failure_mode TEXT NOT NULL,
        max_attempts INTEGER NOT NULL,
        record_mode TEXT NOT NULL,
        timeout_ms INTEGER NOT NULL,
        headers TEXT NOT NULL,
        paused TEXT,
        created_at TEXT NOT NULL,
        version INTEGER NOT NULL,
        secrets_key_id INTEGER NOT NULL,
        secrets BLOB NOT NULL
      );
      CREATE INDEX subscriptions_topic ON subscriptions (topic_id);
      CREATE INDEX subscriptions_owner ON subscriptions (owner);
      CREATE INDEX subscriptions_secrets_key_id ON subscriptions (secrets_key_id);
      CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        topic_id TEXT NOT NULL REFERENCES topics (id),
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        query TEXT NOT NULL,
        content_type TEXT,
        sender TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        idempotency_key TEXT,
        key_id INTEGER NOT NULL,
        payload BLOB NOT NULL
      );
      CREATE INDEX events_topic_seq ON events (topic_id, seq);
      CREATE INDEX events_topic_received ON events (topic_id, received_at);
      CREATE INDEX events_idempotency
        ON events (topic_id, idempotency_key, received_at)
        WHERE idempotency_key IS NOT NULL;
      CREATE INDEX events_key_id ON events (key_id);
      CREATE TABLE subscription_positions (
        subscription_id TEXT PRIMARY KEY REFERENCES subscriptions (id),
        -- The cursor at creation: older events were never meant for it.
        start_seq INTEGER NOT NULL,
        cursor INTEGER NOT NULL
      );
      CREATE TABLE deliveries (
        subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
        seq INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        attempt_id TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        delivered_at INTEGER NOT NULL,
        PRIMARY KEY (subscription_id, seq)
      ) WITHOUT ROWID;
      CREATE TABLE failed (
        subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
        seq INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        last_status INTEGER,
        last_error TEXT,
        failed_at INTEGER NOT NULL,
        replaying INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (subscription_id, seq)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 5,
    name: "whether a subscription may deliver to private addresses",
    // Decided when an admin makes a subscription or changes its URLs; for
    // those made before, by whether their owner is an admin now (an owner
    // not among the users, e.g. an external token's subject, keeps what the
    // check at creation allowed).
    sql: `
      ALTER TABLE subscriptions
        ADD COLUMN private_allowed INTEGER NOT NULL DEFAULT 0;
      UPDATE subscriptions SET private_allowed = 1
        WHERE owner NOT IN (SELECT name FROM users)
           OR owner IN (
             SELECT u.name FROM users u, json_each(u.roles) r
             WHERE r.value = 'admin'
           );
    `,
  },
];
