//! The shared key-value store: one `HashMap` behind a mutex, shared by every
//! connection task and the expiry task.
//!
//! Its types derive [`Trace`], so a snapshot walks the store by type: the
//! map's table is named `HashMap<String, Entry>`, and each value's buffer is
//! reached through the field path `entries.[].value`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use turbowish_alloc::Trace;

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq, Trace)]
pub struct Entry {
    /// The value.
    pub value: String,
    /// When the entry stops being visible; `None` for never.
    pub expires_at: Option<Instant>,
}

impl Entry {
    fn is_live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

/// The store's state: what the mutex guards.
#[derive(Debug, Default, Trace)]
pub struct Entries {
    /// Every key, with its entry (expired entries stay until the expiry task
    /// removes them, but are never returned).
    pub entries: HashMap<String, Entry>,
}

/// A handle to the shared store; clones share one map.
#[derive(Debug, Clone, Default, Trace)]
pub struct Store {
    inner: Arc<Mutex<Entries>>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    /// The shared state, for registering it as a typed root.
    pub fn shared(&self) -> &Arc<Mutex<Entries>> {
        &self.inner
    }

    /// Locks the map. A panic in another holder does not make the store
    /// unusable: the map is always left consistent between operations.
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value of `key`, unless missing or expired.
    pub fn get(&self, key: &str) -> Option<String> {
        let now = Instant::now();
        let map = self.lock();
        map.entries
            .get(key)
            .filter(|e| e.is_live(now))
            .map(|e| e.value.clone())
    }

    /// Sets `key` to `value`, expiring after `ttl` if given. A TTL too large
    /// for the clock means no expiry.
    pub fn set(&self, key: String, value: String, ttl: Option<Duration>) {
        let expires_at = ttl.and_then(|t| Instant::now().checked_add(t));
        self.lock().entries.insert(key, Entry { value, expires_at });
    }

    /// Removes `key`; whether a live entry was there.
    pub fn del(&self, key: &str) -> bool {
        let now = Instant::now();
        self.lock()
            .entries
            .remove(key)
            .is_some_and(|e| e.is_live(now))
    }

    /// Exchanges the entries of `a` and `b` (a missing key's absence too),
    /// in one critical section.
    pub fn swap(&self, a: &str, b: &str) {
        if a == b {
            return;
        }
        let mut map = self.lock();
        let (ea, eb) = (map.entries.remove(a), map.entries.remove(b));
        for (key, entry) in [(a, eb), (b, ea)] {
            if let Some(entry) = entry {
                map.entries.insert(key.to_owned(), entry);
            }
        }
    }

    /// The entry of `key`, unless missing or expired.
    pub fn entry(&self, key: &str) -> Option<Entry> {
        let now = Instant::now();
        self.lock()
            .entries
            .get(key)
            .filter(|e| e.is_live(now))
            .cloned()
    }

    /// Sets `key` to `entry`, or removes it for `None`.
    pub fn put(&self, key: &str, entry: Option<Entry>) {
        let mut map = self.lock();
        match entry {
            Some(entry) => map.entries.insert(key.to_owned(), entry),
            None => map.entries.remove(key),
        };
    }

    /// Compacts `key`'s value: gives back the capacity it does not use.
    pub fn compact(&self, key: &str) {
        if let Some(e) = self.lock().entries.get_mut(key) {
            e.value.shrink_to_fit();
        }
    }

    /// Removes every entry expired at `now`; how many.
    pub fn remove_expired(&self, now: Instant) -> usize {
        let mut map = self.lock();
        let before = map.entries.len();
        map.entries.retain(|_, e| e.is_live(now));
        before - map.entries.len()
    }

    /// Number of entries, expired ones included until they are removed.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the store has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_del() {
        let s = Store::new();
        assert_eq!(s.get("a"), None);
        s.set("a".into(), "1".into(), None);
        assert_eq!(s.get("a").as_deref(), Some("1"));
        s.set("a".into(), "2".into(), None);
        assert_eq!(s.get("a").as_deref(), Some("2"));
        assert!(s.del("a"));
        assert!(!s.del("a"));
        assert!(s.is_empty());
    }

    #[test]
    fn expired_entries_are_invisible_then_removed() {
        let s = Store::new();
        s.set("t".into(), "x".into(), Some(Duration::from_millis(1)));
        s.set("k".into(), "y".into(), Some(Duration::from_secs(3600)));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(s.get("t"), None);
        assert!(!s.del("t"), "an expired entry is not reported as removed");
        s.set("t".into(), "x".into(), Some(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(s.len(), 2);
        assert_eq!(s.remove_expired(Instant::now()), 1);
        assert_eq!(s.get("k").as_deref(), Some("y"));
    }

    #[test]
    fn swap_exchanges_entries_and_absences() {
        let s = Store::new();
        s.set("a".into(), "1".into(), None);
        s.set("b".into(), "2".into(), Some(Duration::from_secs(3600)));
        s.swap("a", "b");
        assert_eq!(
            (s.get("a").as_deref(), s.get("b").as_deref()),
            (Some("2"), Some("1"))
        );
        assert!(s.entry("a").unwrap().expires_at.is_some());
        assert_eq!(s.entry("b").unwrap().expires_at, None);
        s.swap("a", "missing");
        assert_eq!((s.get("a"), s.get("missing").as_deref()), (None, Some("2")));
        s.swap("b", "b");
        assert_eq!(s.get("b").as_deref(), Some("1"));
        s.put("b", None);
        s.put("c", s.entry("missing"));
        assert_eq!((s.get("b"), s.get("c").as_deref()), (None, Some("2")));
    }

    #[test]
    fn a_huge_ttl_means_no_expiry() {
        let s = Store::new();
        s.set(
            "k".into(),
            "v".into(),
            Some(Duration::from_millis(u64::MAX)),
        );
        assert_eq!(s.get("k").as_deref(), Some("v"));
    }
}
