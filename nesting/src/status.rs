//! One word for how a live cluster is, from what `tree` read of it.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// A cluster that is not Ready this long after its namespace was made is
/// `booting`; after that, `NotReady`.
pub const BOOT_GRACE: Duration = Duration::from_secs(600);

/// How a cluster is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Its node Pods and all its nodes are Ready.
    Ready,
    /// Not Ready, and past [`BOOT_GRACE`].
    NotReady,
    /// Its node Pods stopped by `pause`.
    #[serde(rename = "paused")]
    Paused,
    /// Not Ready yet, within [`BOOT_GRACE`].
    #[serde(rename = "booting")]
    Booting,
    /// Its namespace is there, its control plane's StatefulSet is not.
    #[serde(rename = "missing")]
    Missing,
    /// Its namespace is being deleted.
    #[serde(rename = "deleting")]
    Deleting,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ready => "Ready",
            Status::NotReady => "NotReady",
            Status::Paused => "paused",
            Status::Booting => "booting",
            Status::Missing => "missing",
            Status::Deleting => "deleting",
        })
    }
}

/// Ready and wanted, of some Pods or nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub ready: u32,
    pub want: u32,
}

impl Count {
    fn all_ready(self) -> bool {
        self.ready >= self.want
    }
}

/// What was read of a cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    pub deleting: bool,
    pub paused: bool,
    /// Its control plane's Pods, when its StatefulSet was found.
    pub control_plane: Option<Count>,
    /// Its worker Pods (none wanted when there is no StatefulSet).
    pub workers: Count,
    /// Its inner nodes (ready of all), when its API answered.
    pub nodes: Option<Count>,
    /// Since its namespace was made, when known.
    pub age: Option<Duration>,
}

impl Seen {
    pub fn status(&self) -> Status {
        if self.deleting {
            return Status::Deleting;
        }
        if self.paused {
            return Status::Paused;
        }
        let Some(cp) = self.control_plane else {
            return Status::Missing;
        };
        let want_nodes = cp.want + self.workers.want;
        let ready = cp.want >= 1
            && cp.all_ready()
            && self.workers.all_ready()
            && self
                .nodes
                .is_some_and(|n| n.all_ready() && n.want >= want_nodes);
        match self.age {
            _ if ready => Status::Ready,
            Some(age) if age < BOOT_GRACE => Status::Booting,
            _ => Status::NotReady,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(ready: u32, want: u32) -> Count {
        Count { ready, want }
    }

    fn ready() -> Seen {
        Seen {
            control_plane: Some(count(1, 1)),
            workers: count(2, 2),
            nodes: Some(count(3, 3)),
            age: Some(Duration::from_secs(3600)),
            ..Seen::default()
        }
    }

    #[test]
    fn all_pods_and_nodes_ready_is_ready() {
        assert_eq!(ready().status(), Status::Ready);
        // Age does not matter once Ready.
        let young = Seen {
            age: Some(Duration::from_secs(5)),
            ..ready()
        };
        assert_eq!(young.status(), Status::Ready);
    }

    #[test]
    fn not_ready_is_booting_at_first_then_not_ready() {
        let cases = [
            Seen {
                workers: count(1, 2),
                ..ready()
            },
            Seen {
                control_plane: Some(count(0, 1)),
                ..ready()
            },
            // Its API did not answer.
            Seen {
                nodes: None,
                ..ready()
            },
            // A node NotReady, or one not joined yet.
            Seen {
                nodes: Some(count(2, 3)),
                ..ready()
            },
            Seen {
                nodes: Some(count(2, 2)),
                ..ready()
            },
        ];
        for seen in cases {
            assert_eq!(seen.status(), Status::NotReady, "{seen:?}");
            let young = Seen {
                age: Some(Duration::from_secs(30)),
                ..seen
            };
            assert_eq!(young.status(), Status::Booting, "{seen:?}");
            let unknown = Seen { age: None, ..seen };
            assert_eq!(unknown.status(), Status::NotReady, "{seen:?}");
        }
    }

    #[test]
    fn deleting_paused_and_missing_come_first() {
        let deleting = Seen {
            deleting: true,
            paused: true,
            ..ready()
        };
        assert_eq!(deleting.status(), Status::Deleting);
        let paused = Seen {
            paused: true,
            workers: count(0, 0),
            nodes: None,
            ..ready()
        };
        assert_eq!(paused.status(), Status::Paused);
        let missing = Seen {
            control_plane: None,
            ..ready()
        };
        assert_eq!(missing.status(), Status::Missing);
        let none_wanted = Seen {
            control_plane: Some(count(0, 0)),
            ..ready()
        };
        assert_eq!(none_wanted.status(), Status::NotReady);
    }

    #[test]
    fn statuses_read_as_in_the_table() {
        let words: Vec<String> = [
            Status::Ready,
            Status::NotReady,
            Status::Paused,
            Status::Booting,
            Status::Missing,
            Status::Deleting,
        ]
        .iter()
        .map(|s| format!("{s} {}", serde_json::to_string(s).unwrap()))
        .collect();
        assert_eq!(
            words,
            [
                "Ready \"Ready\"",
                "NotReady \"NotReady\"",
                "paused \"paused\"",
                "booting \"booting\"",
                "missing \"missing\"",
                "deleting \"deleting\"",
            ]
        );
    }
}
