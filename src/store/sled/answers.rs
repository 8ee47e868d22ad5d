//! Remembered answers of idempotent requests (`ir/` ‖ scope hash): direct
//! records, claimed with a compare-and-swap so two concurrent requests
//! with one key never both run.

use super::{keys, SledStore};
use crate::domain::idempotent::{claim, expired, Claim, Remembered, SavedAnswer};
use crate::domain::time::Timestamp;
use crate::store::codec::Versioned;
use crate::store::{AnswerStore, Result};

impl AnswerStore for SledStore {
    fn claim_answer(&self, scope: &[u8; 32], now: Timestamp) -> Result<Claim> {
        let key = keys::answer(scope);
        let mark = Remembered::Running { since: now }.encode();
        loop {
            let db = self.db()?;
            let stored = db.get(&key).map_err(|e| self.io(e))?;
            // An undecodable record is treated as absent: it is replaced.
            let existing = stored.as_ref().and_then(|v| Remembered::decode(v).ok());
            match claim(existing.as_ref(), now) {
                Claim::Run => {
                    // No flush: a mark lost in a crash only lets a repeat
                    // run afresh, which is what a request that died needs.
                    let swapped = db
                        .compare_and_swap(&key, stored, Some(mark.clone()))
                        .map_err(|e| self.io(e))?;
                    if swapped.is_ok() {
                        return Ok(Claim::Run);
                    }
                    // Another request claimed or answered meanwhile: look again.
                }
                other => return Ok(other),
            }
        }
    }

    fn save_answer(&self, scope: &[u8; 32], answer: &SavedAnswer) -> Result<()> {
        self.put(&keys::answer(scope), &Remembered::Done(answer.clone()))
    }

    fn forget_answer(&self, scope: &[u8; 32]) -> Result<()> {
        self.db()?
            .remove(keys::answer(scope))
            .map_err(|e| self.io(e))?;
        Ok(())
    }

    fn purge_answers(&self, now: Timestamp) -> Result<usize> {
        let db = self.db()?;
        let mut gone = Vec::new();
        for item in db.scan_prefix(keys::ANSWER) {
            let (k, v) = item.map_err(|e| self.io(e))?;
            let at = Remembered::decode(&v).ok().map(|r| r.at());
            if at.is_none_or(|at| expired(at, now)) {
                gone.push(k);
            }
        }
        if gone.is_empty() {
            return Ok(0);
        }
        let mut batch = sled::Batch::default();
        for k in &gone {
            batch.remove(k.clone());
        }
        db.apply_batch(batch).map_err(|e| self.io(e))?;
        self.sync()?;
        Ok(gone.len())
    }
}
