//! An in-memory copy of the rows every secret read needs (the environment by
//! name, and the current version of a path), so a read costs no database
//! round trip when nothing changed. The profile in BENCHMARKS.md shows why:
//! each SQLite query is a hand-off to a connection thread and back, and on a
//! small machine those context switches, not SQL, bound the read rate.
//!
//! Correctness rule: every store method that changes projects, environments,
//! secrets or versions calls [`HotCache::invalidate`] after it commits; a
//! reader fills the cache only if no invalidation happened since it started
//! its database read (the generation check), so a fill can never resurrect a
//! row a concurrent write replaced. It holds only what the database holds
//! (ciphertext envelopes, never plaintext), and is per process: a store
//! shared by several nodes must not use it without cross-node invalidation.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::{EnvRow, ProjectRow, VersionRow};

/// Entries kept before the cache starts over (bounds memory: values are at most `max_value_bytes`).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct HotCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    envs: HashMap<(String, String), (ProjectRow, Option<EnvRow>)>,
    current: HashMap<(i64, String), Option<VersionRow>>,
}

impl HotCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Taken before a database read whose result may be cached.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub fn env(&self, project: &str, env: &str) -> Option<(ProjectRow, Option<EnvRow>)> {
        self.lock().envs.get(&(project.to_owned(), env.to_owned())).cloned()
    }

    pub fn put_env(&self, generation: u64, project: &str, env: &str, value: (ProjectRow, Option<EnvRow>)) {
        let mut inner = self.lock();
        if inner.generation == generation && inner.envs.len() < MAX_ENTRIES {
            inner.envs.insert((project.to_owned(), env.to_owned()), value);
        }
    }

    pub fn current(&self, env_id: i64, path: &str) -> Option<Option<VersionRow>> {
        self.lock().current.get(&(env_id, path.to_owned())).cloned()
    }

    pub fn put_current(&self, generation: u64, env_id: i64, path: &str, value: Option<VersionRow>) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.current.len() >= MAX_ENTRIES {
            inner.current.clear();
        }
        inner.current.insert((env_id, path.to_owned()), value);
    }

    /// Forgets everything; called after every committed change to the cached tables.
    pub fn invalidate(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.envs.clear();
        inner.current.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> ProjectRow {
        ProjectRow {
            id: 1,
            name: "p".into(),
            created_at: 0,
        }
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_is_dropped() {
        let cache = HotCache::default();
        let before = cache.generation();
        cache.invalidate(); // a write committed while the reader was at the database
        cache.put_env(before, "p", "e", (project(), None));
        cache.put_current(before, 1, "K", None);
        assert_eq!(cache.env("p", "e"), None);
        assert_eq!(cache.current(1, "K"), None);
        let now = cache.generation();
        cache.put_current(now, 1, "K", None);
        assert_eq!(cache.current(1, "K"), Some(None));
        cache.invalidate();
        assert_eq!(cache.current(1, "K"), None);
    }
}
