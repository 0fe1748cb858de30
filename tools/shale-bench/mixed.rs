//! The mixed workload's view of the prepared objects: which exist, which
//! are being read, which are being written, so that a GET never races the
//! DELETE of its key and a deleted key is put back later. Content comes
//! from the key, so a re-put object reads back the same.

use parking_lot::Mutex;

/// warp's default mix, in percent: GET, PUT, STAT, then DELETE the rest.
const GET_PERCENT: u64 = 45;
const PUT_PERCENT: u64 = 15;
const STAT_PERCENT: u64 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Get(u64),
    Put(u64),
    Stat(u64),
    Delete(u64),
}

impl Action {
    /// The object's number and whether the action only reads it.
    fn slot(self) -> (u64, bool) {
        match self {
            Action::Get(i) | Action::Stat(i) => (i, true),
            Action::Put(i) | Action::Delete(i) => (i, false),
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Slot {
    present: bool,
    readers: u32,
    writing: bool,
}

impl Slot {
    fn readable(&self) -> bool {
        self.present && !self.writing
    }

    fn writable(&self) -> bool {
        self.readers == 0 && !self.writing
    }
}

/// Slot `i` is the prepared object number `i`.
pub struct Pool {
    slots: Mutex<Vec<Slot>>,
}

impl Pool {
    /// `n` prepared objects, all present.
    pub fn new(n: u64) -> Pool {
        let slot = Slot {
            present: true,
            ..Slot::default()
        };
        Pool {
            slots: Mutex::new(vec![slot; n as usize]),
        }
    }

    /// Claims an object for the operation `percent` (0..100) picks,
    /// looking from slot `start` on; None when no object fits right now.
    pub fn claim(&self, percent: u64, start: u64) -> Option<Action> {
        let mut slots = self.slots.lock();
        let n = slots.len();
        let start = start as usize % n.max(1);
        let find = |slots: &[Slot], want: &dyn Fn(&Slot) -> bool| {
            (start..n)
                .chain(0..start)
                .find(|&i| slots.get(i).is_some_and(want))
        };
        let action = if percent < GET_PERCENT {
            Action::Get(find(&slots, &Slot::readable)? as u64)
        } else if percent < GET_PERCENT + PUT_PERCENT {
            // A deleted object first; else overwrite one nobody uses.
            let absent = find(&slots, &|s: &Slot| !s.present && s.writable());
            Action::Put(absent.or_else(|| find(&slots, &Slot::writable))? as u64)
        } else if percent < GET_PERCENT + PUT_PERCENT + STAT_PERCENT {
            Action::Stat(find(&slots, &Slot::readable)? as u64)
        } else {
            Action::Delete(find(&slots, &|s: &Slot| s.present && s.writable())? as u64)
        };
        let (i, read) = action.slot();
        let s = slots.get_mut(i as usize)?;
        if read {
            s.readers += 1;
        } else {
            s.writing = true;
        }
        Some(action)
    }

    /// Ends a claimed operation. After a failed write the object's state
    /// is unknown: it counts as absent, so it is put again before it is
    /// read.
    pub fn release(&self, action: Action, ok: bool) {
        let mut slots = self.slots.lock();
        let (i, read) = action.slot();
        let Some(s) = slots.get_mut(i as usize) else {
            return;
        };
        if read {
            s.readers = s.readers.saturating_sub(1);
        } else {
            s.writing = false;
            s.present = ok && matches!(action, Action::Put(_));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_object_is_not_read_until_put_again() {
        let pool = Pool::new(1);
        let del = GET_PERCENT + PUT_PERCENT + STAT_PERCENT;
        let read = pool.claim(0, 0).unwrap();
        assert_eq!(read, Action::Get(0));
        // Not deleted while being read.
        assert_eq!(pool.claim(del, 0), None);
        pool.release(read, true);
        let d = pool.claim(del, 0).unwrap();
        assert_eq!(d, Action::Delete(0));
        assert_eq!(pool.claim(0, 0), None);
        pool.release(d, true);
        assert_eq!(pool.claim(0, 0), None);
        assert_eq!(
            pool.claim(GET_PERCENT + STAT_PERCENT + PUT_PERCENT - 1, 0),
            None
        );
        let p = pool.claim(GET_PERCENT, 0).unwrap();
        assert_eq!(p, Action::Put(0));
        pool.release(p, true);
        assert_eq!(
            pool.claim(GET_PERCENT + PUT_PERCENT, 0),
            Some(Action::Stat(0))
        );
    }
}
