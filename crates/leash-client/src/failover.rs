//! Failover between the nodes of a Leash cluster: the ordered list of base
//! addresses, which node a request tries first, and the rule that decides,
//! after each attempt, whether to answer the caller or try the next node.
//!
//! The rules (every node serves every request; they share one database):
//!
//! - **Sticky.** A request starts at the node that last answered (the first
//!   address for a fresh client) and goes round the list from there, trying
//!   each node at most once. A healthy cluster is not probed on every call.
//! - **Unreachable** (connection refused, DNS failure, TLS handshake, connect
//!   timeout): nothing was sent, so any request moves on to the next node.
//! - **503** (sealed, audit log unavailable) **or 502/504** (from a proxy):
//!   the next node, for requests that are safe to repeat ([`Retry::Read`]:
//!   GET/HEAD, token lookups, the read-only audit checks, and logins: a
//!   repeated login mints at most one more token that nobody receives and
//!   that expires with its TTL;
//!   [`Retry::Cas`]: writes carrying a CAS revision, which the store refuses
//!   with 409 if a first attempt did land). The API has no idempotency keys,
//!   so CAS is the only kind of write that qualifies. A plain write is
//!   answered with the error and a note that it was not retried.
//! - **Broken after sending** (a timeout or a reset once the request was
//!   written): safe requests move on; a plain write is not repeated, and the
//!   error says its outcome is unknown and names the node.
//! - **Every other answer is final**: 2xx, every 4xx (401, 403, 404, 409, 429)
//!   and 500/501.
//! - **Node-scoped** calls ([`Retry::ThisNode`]: health, seal status, init,
//!   unseal, seal, generate-root) go to the current node only: they are about
//!   one node, not the cluster.
//!
//! It owns only these decisions and the node list; it must never send a
//! request itself, and never hold a token.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::{Method, StatusCode, Url};

use crate::Error;

/// How safe a request is to send again to another node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Changes nothing (or nothing anyone depends on): always safe to repeat.
    Read,
    /// A write with an expected revision: a repeat after a landed first
    /// attempt is refused with 409, never applied twice.
    Cas,
    /// A write without CAS: repeated only when it was certainly not sent.
    Write,
    /// About one node: never sent to another.
    ThisNode,
}

impl Retry {
    /// The default for a method: GET and HEAD read, everything else writes.
    pub(crate) fn of(method: &Method) -> Self {
        if method == Method::GET || method == Method::HEAD {
            Retry::Read
        } else {
            Retry::Write
        }
    }

    /// A write that carries `cas` when it is `Some`.
    pub(crate) fn cas(cas: Option<i64>) -> Self {
        if cas.is_some() { Retry::Cas } else { Retry::Write }
    }

    fn may_repeat(self) -> bool {
        matches!(self, Retry::Read | Retry::Cas)
    }
}

/// What one attempt on one node came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The node answered with this status.
    Answered(StatusCode),
    /// No connection was made: nothing was sent.
    Unreachable,
    /// The request was (or may have been) sent, then the exchange failed.
    BrokenAfterSend,
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Give this outcome to the caller.
    Finish,
    /// Try the next node (or report every node's failure after the last).
    MoveOn,
    /// The node is unavailable but the request is not safe to repeat: give the
    /// caller the answer, saying it was not retried.
    NotRetried,
    /// A plain write may have been applied: say the outcome is unknown.
    OutcomeUnknown,
}

/// The failover rule for one attempt (see the module doc).
pub(crate) fn next(attempt: Attempt, retry: Retry) -> Next {
    if retry == Retry::ThisNode {
        return match attempt {
            Attempt::Answered(_) | Attempt::Unreachable => Next::Finish,
            Attempt::BrokenAfterSend => Next::OutcomeUnknown,
        };
    }
    match attempt {
        Attempt::Unreachable => Next::MoveOn,
        Attempt::Answered(status) if is_unavailable(status) => {
            if retry.may_repeat() {
                Next::MoveOn
            } else {
                Next::NotRetried
            }
        }
        Attempt::Answered(_) => Next::Finish,
        Attempt::BrokenAfterSend => {
            if retry.may_repeat() {
                Next::MoveOn
            } else {
                Next::OutcomeUnknown
            }
        }
    }
}

/// 503 from a node, 502/504 from a proxy in front of one.
fn is_unavailable(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
    )
}

/// The ordered base addresses and the index of the node that last answered.
/// Shared by every clone of a client.
#[derive(Debug)]
pub(crate) struct Nodes {
    bases: Vec<Url>,
    preferred: AtomicUsize,
}

impl Nodes {
    /// Parses a comma-separated list of addresses (one address is a list of one).
    pub(crate) fn parse(list: &str) -> Result<Arc<Self>, Error> {
        let entries: Vec<&str> = list.split(',').map(str::trim).collect();
        if entries.len() > 1 && entries.iter().any(|e| e.is_empty()) {
            return Err(Error::InvalidAddress {
                addr: list.to_owned(),
                reason: "the list has an empty entry".to_owned(),
            });
        }
        Self::from_list(&entries)
    }

    /// One node per entry, in order.
    pub(crate) fn from_list(addrs: &[&str]) -> Result<Arc<Self>, Error> {
        if addrs.is_empty() {
            return Err(Error::InvalidAddress {
                addr: String::new(),
                reason: "no address was given".to_owned(),
            });
        }
        let bases = addrs
            .iter()
            .map(|a| crate::parse_base(a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(Self {
            bases,
            preferred: AtomicUsize::new(0),
        }))
    }

    pub(crate) fn len(&self) -> usize {
        self.bases.len()
    }

    /// The node a request starts at.
    pub(crate) fn current(&self) -> &Url {
        &self.bases[self.preferred.load(Ordering::Relaxed) % self.bases.len()]
    }

    /// Every node once, starting at the current one.
    pub(crate) fn order(&self) -> impl Iterator<Item = (usize, &Url)> {
        let start = self.preferred.load(Ordering::Relaxed) % self.bases.len();
        (0..self.bases.len()).map(move |i| {
            let index = (start + i) % self.bases.len();
            (index, &self.bases[index])
        })
    }

    /// Node `index` answered: later requests start there.
    pub(crate) fn answered(&self, index: usize) {
        self.preferred.store(index, Ordering::Relaxed);
    }

    /// Every base address, in the order given.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Url> {
        self.bases.iter()
    }
}

/// A base URL as shown to users: `http://127.0.0.1:8270`.
pub(crate) fn display(base: &Url) -> String {
    base.as_str().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule() {
        let check = |attempt: Attempt, retry: Retry, expected: Next| {
            assert_eq!(next(attempt, retry), expected, "{attempt:?} {retry:?}");
        };
        let status = |code: u16| Attempt::Answered(StatusCode::from_u16(code).unwrap());
        for retry in [Retry::Read, Retry::Cas, Retry::Write] {
            check(Attempt::Unreachable, retry, Next::MoveOn);
            for code in [200, 204, 400, 401, 403, 404, 409, 429, 500, 501] {
                check(status(code), retry, Next::Finish);
            }
        }
        for code in [502, 503, 504] {
            check(status(code), Retry::Read, Next::MoveOn);
            check(status(code), Retry::Cas, Next::MoveOn);
            check(status(code), Retry::Write, Next::NotRetried);
            check(status(code), Retry::ThisNode, Next::Finish);
        }
        check(Attempt::BrokenAfterSend, Retry::Read, Next::MoveOn);
        check(Attempt::BrokenAfterSend, Retry::Cas, Next::MoveOn);
        check(Attempt::BrokenAfterSend, Retry::Write, Next::OutcomeUnknown);
        check(Attempt::BrokenAfterSend, Retry::ThisNode, Next::OutcomeUnknown);
        check(Attempt::Unreachable, Retry::ThisNode, Next::Finish);
    }

    #[test]
    fn methods_and_cas() {
        assert_eq!(Retry::of(&Method::GET), Retry::Read);
        assert_eq!(Retry::of(&Method::HEAD), Retry::Read);
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(Retry::of(&m), Retry::Write);
        }
        assert_eq!(Retry::cas(Some(3)), Retry::Cas);
        assert_eq!(Retry::cas(None), Retry::Write);
    }

    #[test]
    fn order_is_sticky_and_visits_each_node_once() {
        let nodes = Nodes::parse("http://a:1, http://b:2,http://c:3").unwrap();
        let names = |n: &Nodes| n.order().map(|(_, u)| display(u)).collect::<Vec<_>>();
        assert_eq!(names(&nodes), ["http://a:1", "http://b:2", "http://c:3"]);
        nodes.answered(1);
        assert_eq!(names(&nodes), ["http://b:2", "http://c:3", "http://a:1"]);
        assert_eq!(display(nodes.current()), "http://b:2");
    }

    #[test]
    fn lists_are_checked_entry_by_entry() {
        let err = Nodes::parse("http://a:1,ftp://b").unwrap_err();
        assert!(err.to_string().contains("\"ftp://b\""), "{err}");
        let err = Nodes::parse("http://a:1,,http://b").unwrap_err();
        assert!(err.to_string().contains("empty entry"), "{err}");
        assert_eq!(Nodes::parse("a:1").unwrap().len(), 1);
    }
}
