//! Connections to PostgreSQL, each owned by an OS thread of its own.
//!
//! Why threads and not a pool crate: the sync `postgres` client runs a
//! tokio runtime of its own and panics when called on a thread that is
//! already inside one ("Cannot start a runtime from within a runtime"),
//! and Herald calls its store from everywhere: its own threads, the
//! blocking pool, and actix's (tokio) workers on the ingest path. Here no
//! caller ever touches a client: a call is a closure sent to whichever
//! connection thread is free, and the caller waits on a channel for its
//! answer, which works from any thread, inside a runtime or not. The
//! clients are also created and dropped on those threads (a client's
//! runtime must not be dropped inside another runtime either). The cost is
//! two channel hops per call, small beside a round trip to the server.
//!
//! A connection that broke (the server restarted, the network failed) is
//! dropped and made afresh by the next call on its thread, so the store
//! reconnects by itself; the call that met the break fails as
//! [`StoreError::Unavailable`].

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};

use crate::store::{Result, StoreError};

/// How to open a connection: the parsed URL and the schema to work in.
#[derive(Clone)]
pub(super) struct Spec {
    /// The server, user, database (from the `postgres://` URL).
    pub config: postgres::Config,
    /// The schema every table lives in (`search_path`).
    pub schema: String,
    /// The TLS connector, when the URL says `sslmode=require`
    /// (`super::tls`); plain connections otherwise.
    pub tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

/// Each statement is cut off after this long: a stuck query must fail
/// (and free its connection) rather than hold a caller for ever.
pub(super) const STATEMENT_TIMEOUT_MS: u64 = 30_000;
/// A session left inside a transaction this long is ended by the server,
/// so a Herald thread that stopped half-way never holds row locks for
/// long.
pub(super) const IDLE_IN_TRANSACTION_TIMEOUT_MS: u64 = 60_000;

/// Quotes an identifier for SQL.
pub(super) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// An open connection with its prepared statements.
pub(super) struct Db {
    client: Client,
    /// Statements by their text, prepared once per connection.
    prepared: HashMap<&'static str, Statement>,
}

/// A PostgreSQL error as a store error: a lost connection, a server
/// shutting down or out of resources (a full disk) is `Unavailable`
/// (writes resume once it is back); anything else `Io`.
pub(super) fn pg_error(e: &postgres::Error) -> StoreError {
    let text = one_line(e);
    let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
    let unavailable = e.is_closed()
        || io
        || e.code().is_some_and(|c| {
            let c = c.code();
            // 08: connection exceptions; 53: insufficient resources (disk
            // full, out of memory, too many connections); 57P01–57P03: the
            // server is shutting down or starting.
            c.starts_with("08") || c.starts_with("53") || c.starts_with("57P")
        });
    if unavailable {
        StoreError::Unavailable(text)
    } else {
        StoreError::Io(text)
    }
}

/// The error with its server detail, on one line.
pub(super) fn one_line(e: &postgres::Error) -> String {
    let text = match e.as_db_error() {
        Some(db) => format!("postgres: {} ({})", db.message(), db.code().code()),
        None => {
            // With its causes: "error performing TLS handshake" alone
            // does not say the certificate was refused.
            let mut text = format!("postgres: {e}");
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            text
        }
    };
    text.replace(['\n', '\r'], " ")
}

impl Db {
    /// Connects and sets the session up: the schema, the timeouts.
    pub fn connect(spec: &Spec) -> Result<Self> {
        let connected = match &spec.tls {
            Some(tls) => spec.config.connect(tls.clone()),
            None => spec.config.connect(NoTls),
        };
        let mut client = connected.map_err(|e| StoreError::Unavailable(one_line(&e)))?;
        client
            .batch_execute(&format!(
                "SET search_path TO {}; SET statement_timeout = {STATEMENT_TIMEOUT_MS}; \
                 SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_TIMEOUT_MS}; \
                 SET TIME ZONE 'UTC'",
                ident(&spec.schema)
            ))
            .map_err(|e| pg_error(&e))?;
        Ok(Self {
            client,
            prepared: HashMap::new(),
        })
    }

    /// Whether the connection is known to be broken.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(|e| pg_error(&e))?;
        self.prepared.insert(sql, s.clone());
        Ok(s)
    }

    /// Runs `sql` (prepared once), answering the rows.
    pub fn query(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let s = self.statement(sql)?;
        self.client.query(&s, params).map_err(|e| pg_error(&e))
    }

    /// Runs `sql`, answering at most one row.
    pub fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>> {
        let s = self.statement(sql)?;
        self.client.query_opt(&s, params).map_err(|e| pg_error(&e))
    }

    /// Runs `sql`, answering how many rows it changed.
    pub fn execute(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let s = self.statement(sql)?;
        self.client.execute(&s, params).map_err(|e| pg_error(&e))
    }

    /// Like [`Db::execute`], but hands the error back as PostgreSQL's,
    /// for a caller that tells constraint violations apart.
    pub fn execute_raw(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<u64, RawError> {
        let s = self.statement(sql).map_err(RawError::Store)?;
        self.client.execute(&s, params).map_err(RawError::Pg)
    }

    /// Runs statements without parameters (transaction control, DDL).
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        self.client.batch_execute(sql).map_err(|e| pg_error(&e))
    }

    /// Waits up to `timeout` for a notification on a channel this
    /// connection listens on; answers how many arrived (the first, and
    /// whatever came with it), 0 if none did.
    pub fn wait_notifications(&mut self, timeout: std::time::Duration) -> Result<usize> {
        use postgres::fallible_iterator::FallibleIterator;
        let mut notes = self.client.notifications();
        let first = notes
            .timeout_iter(timeout)
            .next()
            .map_err(|e| pg_error(&e))?;
        if first.is_none() {
            return Ok(0);
        }
        // What arrived with it, without waiting (bounded: a flood wakes
        // the engine once per call anyway).
        let more = notes
            .iter()
            .take(10_000)
            .count()
            .map_err(|e| pg_error(&e))?;
        Ok(1 + more)
    }

    /// The client itself, for streaming reads.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// A prepared statement, for streaming reads.
    pub fn prepared(&mut self, sql: &'static str) -> Result<Statement> {
        self.statement(sql)
    }
}

/// An error of [`Db::execute_raw`].
pub(super) enum RawError {
    /// Preparing failed.
    Store(StoreError),
    /// The server refused the statement.
    Pg(postgres::Error),
}

impl RawError {
    /// The constraint a violation names, if it is one.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            RawError::Pg(e) => e
                .as_db_error()
                .filter(|d| *d.code() == postgres::error::SqlState::UNIQUE_VIOLATION)
                .and_then(|d| d.constraint()),
            RawError::Store(_) => None,
        }
    }

    /// As a store error.
    pub fn into_store(self) -> StoreError {
        match self {
            RawError::Store(e) => e,
            RawError::Pg(e) => pg_error(&e),
        }
    }
}

/// One unit of work for a connection thread.
type Job = Box<dyn FnOnce(&mut Option<Db>, &Spec) + Send>;

/// The connection threads.
pub(super) struct Pool {
    tx: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    /// Called with every `Unavailable` a call answers (the store notes
    /// the failure for `write_failure`).
    on_unavailable: Arc<dyn Fn(&StoreError) + Send + Sync>,
}

/// The threads' name.
pub const THREAD_NAME: &str = "herald-pg";

impl Pool {
    /// Starts `size` connection threads (each connects on its first job).
    pub fn start(
        spec: Spec,
        size: usize,
        on_unavailable: Arc<dyn Fn(&StoreError) + Send + Sync>,
    ) -> Result<Self> {
        let (tx, rx): (Sender<Job>, Receiver<Job>) = crossbeam_channel::unbounded();
        let mut threads = Vec::with_capacity(size);
        for i in 0..size.max(1) {
            let (rx, spec) = (rx.clone(), spec.clone());
            let t = std::thread::Builder::new()
                .name(format!("{THREAD_NAME}-{i}"))
                .spawn(move || {
                    let mut db: Option<Db> = None;
                    for job in rx {
                        job(&mut db, &spec);
                    }
                })
                .map_err(|e| StoreError::Io(format!("starting a connection thread: {e}")))?;
            threads.push(t);
        }
        Ok(Self {
            tx: Some(tx),
            threads,
            on_unavailable,
        })
    }

    /// Hands `f` to a free connection without waiting: its answer comes
    /// on the returned channel (for a caller that feeds or drains the job
    /// meanwhile, like an export or an import).
    pub fn submit<T, F>(&self, f: F) -> Receiver<Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = crossbeam_channel::bounded(1);
        let job: Job = Box::new(move |slot, spec| {
            let r = with_connection(slot, spec, f);
            let _ = reply.send(r);
        });
        if let Some(tx) = self.tx.as_ref() {
            let _ = tx.send(job);
        }
        answer
    }

    /// Runs `f` on a free connection and answers what it answered. Safe
    /// from any thread (see the module comment). A broken connection is
    /// dropped after the call, so the next one reconnects.
    pub fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = crossbeam_channel::bounded(1);
        let job: Job = Box::new(move |slot, spec| {
            let r = with_connection(slot, spec, f);
            let _ = reply.send(r);
        });
        let sent = self.tx.as_ref().map(|tx| tx.send(job));
        let r = match sent {
            Some(Ok(())) => answer
                .recv()
                .unwrap_or_else(|_| Err(StoreError::Io("a connection thread stopped".into()))),
            _ => Err(StoreError::Io("the store is shutting down".into())),
        };
        if let Err(e @ StoreError::Unavailable(_)) = &r {
            (self.on_unavailable)(e);
        }
        r
    }
}

/// Runs `f` on the connection in `slot`, connecting first if there is
/// none; drops a connection that broke.
pub(super) fn with_connection<T>(
    slot: &mut Option<Db>,
    spec: &Spec,
    f: impl FnOnce(&mut Db) -> Result<T>,
) -> Result<T> {
    if slot.as_ref().is_some_and(Db::is_closed) {
        *slot = None;
    }
    if slot.is_none() {
        *slot = Some(Db::connect(spec)?);
    }
    let Some(db) = slot.as_mut() else {
        return Err(StoreError::Io("no connection".into()));
    };
    let r = f(db);
    if db.is_closed() || matches!(r, Err(StoreError::Unavailable(_))) {
        *slot = None;
    }
    r
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the channel ends each thread after its current job; the
        // clients drop there, outside any runtime.
        self.tx = None;
        for t in self.threads.drain(..) {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}
