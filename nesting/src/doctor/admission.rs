//! Whether the cluster admits privileged node Pods: Pod Security and
//! other admission policies.

use super::Check;

/// What an admission denial most likely came from, and what to do.
pub fn denial_hint(message: &str) -> String {
    let m = message.to_ascii_lowercase();
    if m.contains("cannot create resource") || m.contains("cannot patch resource") {
        "you lack the rights: see the rbac check".into()
    } else if m.contains("podsecurity") || m.contains("pod-security") {
        "Pod Security Admission refused it: allow the label pod-security.kubernetes.io/enforce=privileged on inception namespaces (exemptions in the cluster's AdmissionConfiguration)".into()
    } else if m.contains("podsecuritypolicy") || m.contains("security policy") {
        "a PodSecurityPolicy refused it: bind a privileged PSP to the namespace's service accounts"
            .into()
    } else if m.contains("webhook") || m.contains("policy") {
        "an admission policy (webhook, Gatekeeper, Kyverno) refused it: ask for an exception for namespaces inception-*".into()
    } else {
        "ask the cluster admin to allow privileged Pods with hostPath volumes in inception-* namespaces".into()
    }
}

/// How the server answered a dry run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DryRun<'a> {
    Accepted,
    /// Server-side apply conflict: fields owned by another manager.
    Conflict(&'a str),
    /// Refused by admission, validation or authorization.
    Refused(&'a str),
}

/// The server-side dry run of the top cluster's Namespace (with the
/// pod-security labels the plugin sets); `existing` is the enforce label of
/// the namespace if it exists (`Some(None)`: exists without one).
pub fn pod_security(namespace: &str, dry_run: DryRun, existing: Option<Option<&str>>) -> Check {
    let level = existing.flatten().unwrap_or("the cluster default");
    match dry_run {
        DryRun::Refused(e) => Check::fail(
            "pod-security",
            format!("namespace {namespace} with enforce=privileged refused: {e}"),
            denial_hint(e),
        ),
        DryRun::Conflict(e) => Check::warn(
            "pod-security",
            format!("namespace {namespace} enforces {level}, labels set by someone else: {e}"),
            "up does not take them over: choose another tree name or -n NAMESPACE",
        ),
        DryRun::Accepted => match existing {
            Some(level) if level != Some("privileged") => Check::warn(
                "pod-security",
                format!(
                    "namespace {namespace} exists and enforces {}; up relabels it privileged (dry run accepted)",
                    level.unwrap_or("the cluster default")
                ),
                format!(
                    "kubectl get namespace {namespace} --show-labels; up sets pod-security.kubernetes.io/enforce=privileged"
                ),
            ),
            _ => Check::ok(
                "pod-security",
                format!("namespace {namespace} labelled enforce=privileged accepted (dry run)"),
            ),
        },
    }
}

/// The server-side dry run of a node Pod (privileged, hostPath) in a
/// namespace labelled like the plugin's.
pub fn privileged_pods(result: Result<(), &str>, namespace: &str) -> Check {
    match result {
        Ok(()) => Check::ok(
            "privileged-pods",
            format!(
                "a node Pod (privileged, hostPath) is accepted (dry run, in a namespace labelled like {namespace})"
            ),
        ),
        Err(e) => Check::fail(
            "privileged-pods",
            format!("a node Pod is refused: {e}"),
            denial_hint(e),
        ),
    }
}

/// The privileged Pod check could not be made (no namespace to test in).
pub fn privileged_pods_unchecked(why: &str) -> Check {
    Check::warn(
        "privileged-pods",
        format!("not checked: {why}"),
        "see the rbac check: doctor needs to create a namespace to test in",
    )
}
