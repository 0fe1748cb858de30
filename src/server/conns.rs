//! Which connections may be closed to make room: one HTTP thread's open
//! connections, each known as busy (a request in progress, from its head
//! to the end of its response body) or idle (between requests, or not yet
//! done sending a request head); and the open connections per client IP
//! across threads.
//!
//! When every slot is taken, a new connection closes the connection idle
//! longest, so thousands of idle (or deliberately slow-to-speak)
//! connections never keep a new client out for the header read timeout.
//! Only busy connections are safe from that.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// One thread's connections (the thread's runtime is single-threaded, so
/// no locks).
#[derive(Default)]
pub struct ConnTable {
    conns: RefCell<HashMap<u64, Rc<ConnState>>>,
    next_id: Cell<u64>,
    /// Signalled when a connection ends or becomes idle.
    room: Notify,
}

pub struct ConnState {
    busy: Cell<u32>,
    idle_since: Cell<Instant>,
    /// Beyond the slots: may only ask for the node's own endpoints.
    pub overflow: bool,
    /// Told to close.
    pub shed: Notify,
}

impl ConnTable {
    /// Registers a new connection; it leaves the table when the handle
    /// is dropped.
    pub fn open(self: &Rc<Self>, overflow: bool) -> ConnHandle {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let state = Rc::new(ConnState {
            busy: Cell::new(0),
            idle_since: Cell::new(Instant::now()),
            overflow,
            shed: Notify::new(),
        });
        self.conns.borrow_mut().insert(id, Rc::clone(&state));
        ConnHandle {
            table: Rc::clone(self),
            id,
            state,
        }
    }

    /// Connections open (not counting those told to close).
    pub fn len(&self) -> usize {
        self.conns.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.borrow().is_empty()
    }

    /// Whether a new connection can have a slot: a free one, or an idle
    /// connection to close for it.
    pub fn has_room(&self, slots: usize) -> bool {
        self.len() < slots || self.conns.borrow().values().any(|c| c.busy.get() == 0)
    }

    /// Tells the connection idle longest to close and takes it out of the
    /// table; false if every connection is busy.
    pub fn shed_oldest_idle(&self) -> bool {
        let mut conns = self.conns.borrow_mut();
        let oldest = conns
            .iter()
            .filter(|(_, c)| c.busy.get() == 0)
            .min_by_key(|(_, c)| c.idle_since.get())
            .map(|(id, _)| *id);
        match oldest.and_then(|id| conns.remove(&id)) {
            Some(c) => {
                c.shed.notify_one();
                true
            }
            None => false,
        }
    }

    /// Waits until a connection ends or becomes idle (or did since the
    /// last wait).
    pub async fn changed(&self) {
        self.room.notified().await;
    }
}

/// A connection's place in the table.
pub struct ConnHandle {
    table: Rc<ConnTable>,
    id: u64,
    state: Rc<ConnState>,
}

impl ConnHandle {
    pub fn state(&self) -> Rc<ConnState> {
        Rc::clone(&self.state)
    }
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        self.table.conns.borrow_mut().remove(&self.id);
        self.table.room.notify_one();
    }
}

impl ConnState {
    /// Marks a request in progress until the guard is dropped (with the
    /// response body, once it is sent).
    pub fn busy(self: &Rc<Self>, table: &Rc<ConnTable>) -> BusyGuard {
        self.busy.set(self.busy.get().saturating_add(1));
        BusyGuard {
            state: Rc::clone(self),
            table: Rc::clone(table),
        }
    }

    pub fn is_busy(&self) -> bool {
        self.busy.get() > 0
    }
}

pub struct BusyGuard {
    state: Rc<ConnState>,
    table: Rc<ConnTable>,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let n = self.state.busy.get().saturating_sub(1);
        self.state.busy.set(n);
        if n == 0 {
            self.state.idle_since.set(Instant::now());
            self.table.room.notify_one();
        }
    }
}

/// Open connections per client address, across threads.
pub struct PerIp {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIp {
    /// At most `max` connections per address (0: no limit).
    pub fn new(max: usize) -> Arc<PerIp> {
        Arc::new(PerIp {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a connection from `ip`; `None` if `ip` has its limit open.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpGuard> {
        if self.max == 0 {
            return Some(IpGuard { per_ip: None, ip });
        }
        let mut open = self.open.lock();
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpGuard {
            per_ip: Some(Arc::clone(self)),
            ip,
        })
    }
}

pub struct IpGuard {
    per_ip: Option<Arc<PerIp>>,
    ip: IpAddr,
}

impl Drop for IpGuard {
    fn drop(&mut self) {
        if let Some(p) = &self.per_ip {
            let mut open = p.open.lock();
            if let Some(n) = open.get_mut(&self.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(&self.ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_connection_is_shed_and_busy_ones_are_kept() {
        let t = Rc::new(ConnTable::default());
        let a = t.open(false);
        let b = t.open(false);
        let a_busy = a.state().busy(&t);
        assert!(t.has_room(2), "b is idle");
        assert!(t.shed_oldest_idle());
        assert_eq!(t.len(), 1);
        // Only a, busy, is left: no room, nothing to shed.
        assert!(!t.has_room(1));
        assert!(!t.shed_oldest_idle());
        drop(a_busy);
        assert!(t.has_room(1), "a is idle again");
        drop((a, b));
        assert!(t.is_empty());
    }

    #[test]
    fn the_connection_idle_longest_goes_first() {
        let t = Rc::new(ConnTable::default());
        let old = t.open(false);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let new = t.open(false);
        // `old` just finished a request: now it is the newer idle one.
        std::thread::sleep(std::time::Duration::from_millis(2));
        drop(old.state().busy(&t));
        assert!(t.shed_oldest_idle());
        assert_eq!(t.len(), 1);
        assert!(t.conns.borrow().contains_key(&old.id), "new was shed");
        drop(new);
    }

    #[test]
    fn an_address_gets_its_limit_of_connections() {
        let p = PerIp::new(2);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let a = p.admit(ip);
        let b = p.admit(ip);
        assert!(a.is_some() && b.is_some());
        assert!(p.admit(ip).is_none());
        assert!(p.admit(other).is_some());
        drop(a);
        assert!(p.admit(ip).is_some());
        let unlimited = PerIp::new(0);
        let many: Vec<_> = (0..100).filter_map(|_| unlimited.admit(ip)).collect();
        assert_eq!(many.len(), 100);
    }
}
