//! The closed set of writes the group committer applies, what each one
//! answers, and the [`Ticket`] a writer holds until its write is durable.
//!
//! Why an enum and not closures: every write the delivery pipeline makes
//! is one of these few shapes, so each backend implements each shape once
//! (sled as key operations, a database as statements), the committer can
//! count and log them, and nothing a caller wrote ever runs on a store
//! thread. A caller learns the outcome from its ticket, on its own thread:
//! it waits ([`Ticket::wait`]), awaits (a ticket is a `Future`), or hands
//! the ticket to a thread that does.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{CommitOutcome, Idempotency, NewEvent, Purged, Result, RowKey, StoreError};
use crate::domain::delivery::{Attempt, Delivery, DeliveryState};
use crate::domain::health::Health;
use crate::domain::time::Timestamp;

/// One write for the group committer. A backend applies each operation
/// atomically: all of its writes or none (an event batch is atomic per
/// event, as its events are independent).
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Stores events with their deliveries and due entries, honouring an
    /// `Idempotency-Key` and client-chosen event ids (duplicates are not
    /// written). Answers [`OpOutput::Committed`].
    CommitEvents {
        /// The events, each with the deliveries fan-out made for it.
        events: Vec<NewEvent>,
        /// The request's `Idempotency-Key`, if any.
        idempotency: Option<Idempotency>,
    },
    /// Replaces a delivery (found by id), keeping its indexes in step with
    /// the new state, and stores `attempt` if given. A delivery that is no
    /// longer stored (the retention purge removed it) is not written back:
    /// the op fails with [`super::Conflict::Changed`]. Answers
    /// [`OpOutput::Done`].
    UpdateDelivery {
        /// The delivery's new state.
        delivery: Delivery,
        /// An attempt to store with it.
        attempt: Option<Attempt>,
        /// If given, the write happens only while the stored delivery is
        /// still due (or held) as it was when read; otherwise the op fails
        /// with [`super::Conflict::Changed`] and nothing is written.
        seen: Option<Seen>,
    },
    /// Stores an attempt with its delivery's new state, folds the attempt
    /// into its endpoint's health and statistics (see
    /// [`crate::domain::stats::Stats::of_attempt`]), and answers the
    /// health after it ([`OpOutput::Health`]). Like `UpdateDelivery`, a
    /// delivery no longer stored is not written back.
    RecordAttempt {
        /// The delivery's new state.
        delivery: Delivery,
        /// The attempt.
        attempt: Attempt,
        /// As for `UpdateDelivery`: if given, nothing is written unless
        /// the stored delivery is still as it was read.
        seen: Option<Seen>,
    },
    /// Removes each of these events whose every delivery has ended (see
    /// [`crate::domain::retention::event_purgeable`]), with its
    /// deliveries, attempts and index entries. Answers
    /// [`OpOutput::Purged`].
    PurgeEvents {
        /// Event keys to examine.
        candidates: Vec<u128>,
    },
    /// Removes rows found expired by a read: statistics rows and alert
    /// history of past times (never written again), and idempotency
    /// records, each checked again here since a key may have been used
    /// afresh since the read. Answers [`OpOutput::Removed`].
    RemoveRows {
        /// The rows.
        rows: Vec<RowKey>,
        /// An idempotency record recorded at or after this stays.
        idempotency_before: crate::domain::time::Timestamp,
    },
    /// Writes nothing itself, but makes the backend write what it holds in
    /// memory (write-behind rows) in this cycle. Answers [`OpOutput::Done`]
    /// once all of it is durable.
    Flush,
}

impl WriteOp {
    /// A short name, for logs and figures.
    pub fn name(&self) -> &'static str {
        match self {
            WriteOp::CommitEvents { .. } => "commit_events",
            WriteOp::UpdateDelivery { .. } => "update_delivery",
            WriteOp::RecordAttempt { .. } => "record_attempt",
            WriteOp::PurgeEvents { .. } => "purge_events",
            WriteOp::RemoveRows { .. } => "remove_rows",
            WriteOp::Flush => "flush",
        }
    }
}

/// What an applied [`WriteOp`] answers once durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpOutput {
    /// For [`WriteOp::CommitEvents`].
    Committed(CommitOutcome),
    /// For writes that answer nothing but success.
    Done,
    /// For [`WriteOp::RecordAttempt`]: the endpoint's health after it.
    Health(Health),
    /// For [`WriteOp::PurgeEvents`]: the counts, and the keys removed.
    Purged(Purged, Vec<u128>),
    /// For [`WriteOp::RemoveRows`]: how many went.
    Removed(usize),
}

/// The committer's end of a ticket.
pub type Reply = tokio::sync::oneshot::Sender<Result<OpOutput>>;

/// A write's outcome, once durable (or failed).
///
/// **Invariant:** a ticket resolves to `Ok` only after the write was made
/// durable; if the committer stops without answering, it resolves to an
/// error (never to success).
pub struct Ticket<T> {
    /// `None` once the answer was taken.
    rx: Option<tokio::sync::oneshot::Receiver<Result<OpOutput>>>,
    extract: fn(OpOutput) -> Option<T>,
}

fn stopped() -> StoreError {
    StoreError::Io("the store is shutting down".into())
}

fn wrong_output(name: &'static str) -> StoreError {
    StoreError::Io(format!(
        "the store answered {name} with another kind of result"
    ))
}

impl<T> Ticket<T> {
    /// A ticket for a write just handed to the committer, and the reply
    /// the committer answers it through.
    pub fn new(extract: fn(OpOutput) -> Option<T>) -> (Self, Reply) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (
            Self {
                rx: Some(rx),
                extract,
            },
            tx,
        )
    }

    fn finish(&self, r: Result<OpOutput>) -> Result<T> {
        r.and_then(|o| (self.extract)(o).ok_or_else(|| wrong_output("a write")))
    }

    /// Blocks until the write is durable or failed.
    ///
    /// NB: never call this on an async executor's thread (an actix worker):
    /// await the ticket there instead.
    pub fn wait(mut self) -> Result<T> {
        let r = match self.rx.take() {
            Some(rx) => rx.blocking_recv().unwrap_or_else(|_| Err(stopped())),
            None => Err(stopped()),
        };
        self.finish(r)
    }
}

impl<T> Unpin for Ticket<T> {}

impl<T> Future for Ticket<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let r = match self.rx.as_mut() {
            Some(rx) => match Pin::new(rx).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => {
                    self.rx = None;
                    r.unwrap_or_else(|_| Err(stopped()))
                }
            },
            None => Err(stopped()),
        };
        Poll::Ready(self.finish(r))
    }
}

/// Extractors from [`OpOutput`] for each ticket type.
pub mod output {
    use super::OpOutput;
    use crate::domain::health::Health;
    use crate::store::{CommitOutcome, Purged};

    /// For `CommitEvents`.
    pub fn committed(o: OpOutput) -> Option<CommitOutcome> {
        match o {
            OpOutput::Committed(c) => Some(c),
            _ => None,
        }
    }
    /// For writes that answer `Done`.
    pub fn done(o: OpOutput) -> Option<()> {
        matches!(o, OpOutput::Done).then_some(())
    }
    /// For `RecordAttempt`.
    pub fn health(o: OpOutput) -> Option<Health> {
        match o {
            OpOutput::Health(h) => Some(h),
            _ => None,
        }
    }
    /// For `PurgeEvents`.
    pub fn purged(o: OpOutput) -> Option<(Purged, Vec<u128>)> {
        match o {
            OpOutput::Purged(p, k) => Some((p, k)),
            _ => None,
        }
    }
    /// For `RemoveRows`.
    pub fn removed(o: OpOutput) -> Option<usize> {
        match o {
            OpOutput::Removed(n) => Some(n),
            _ => None,
        }
    }
}

/// What a guarded [`WriteOp::UpdateDelivery`] expects of the stored
/// delivery: the index it was in when read (held, or due at a time).
///
/// Two writers that read the same delivery (a stream poll handing it out
/// and a worker parking it) would otherwise overwrite each other's due
/// time blindly; with the guard the second one to commit finds it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Whether it was held.
    pub held: bool,
    /// When it was due (pending and not held), if it was.
    pub due: Option<Timestamp>,
}

impl Seen {
    /// The index position of `d` as read.
    pub fn of(d: &Delivery) -> Seen {
        Seen {
            held: d.held,
            due: match (d.state, d.held) {
                (DeliveryState::Pending, false) => d.next_attempt_at,
                _ => None,
            },
        }
    }
}
