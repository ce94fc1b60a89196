//! Command-line interface, kubectl style.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl inception",
    bin_name = "kubectl inception",
    version,
    about = "kubectl inception: real Kubernetes clusters inside Kubernetes, nested to any depth",
    long_about = "kubectl inception: real Kubernetes clusters inside Kubernetes, nested to any depth.\n\n\
        Each cluster's nodes are privileged Pods of its parent, bootstrapped with kubeadm.\n\
        Every level gets pod and service CIDRs that overlap nothing above or beside it,\n\
        its own PKI, and a kubeconfig chained from its parent's.",
    after_help = "Examples:\n  kubectl inception up lab --depth 3 --width 2 --dry-run -o yaml\n  kubectl inception tree --plan lab --depth 3 -o json"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// kubectl's own flags, where they apply.
#[derive(Debug, Args, Clone, Default)]
pub struct Global {
    /// Path to the kubeconfig file to use.
    #[arg(long, global = true, env = "KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig cluster to use (instead of the context's).
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The kubeconfig user to use (instead of the context's).
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// How long to wait for a single server request: 0 is no timeout, else
    /// a duration (1s, 2m, 3h; a bare number is seconds).
    #[arg(long, global = true, value_name = "DURATION", value_parser = crate::client::parse_request_timeout)]
    pub request_timeout: Option<std::time::Duration>,
    /// Namespace of the top cluster (default: inception-NAME).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// More logs on stderr (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// kubectl inception up: create a tree of nested clusters.
    Up(UpArgs),
    /// kubectl inception tree: show the clusters in the current context (or a planned tree).
    Tree(TreeArgs),
    /// kubectl inception down: delete a cluster and everything below it.
    Down(DownArgs),
    /// kubectl inception kubeconfig: a kubeconfig for a cluster of a tree.
    Kubeconfig(KubeconfigArgs),
    /// kubectl inception test: smoke test a cluster (web server behind a NodePort).
    Test(TestArgs),
    /// kubectl inception connect: open the tunnels to a cluster and run a command, or keep them open.
    Connect(ConnectArgs),
    /// kubectl inception disconnect: stop a cluster's `kubeconfig --detach` tunnels and remove the context `connect` or `kubeconfig --merge` added for it.
    ///
    /// Both remove it themselves when they end (Ctrl-C); this is for when
    /// they could not (killed, machine restarted). Only the context,
    /// cluster and user entries they wrote for PATH go; nothing to remove
    /// is said, and is no error.
    Disconnect(DisconnectArgs),
    /// kubectl inception scale: change the number of worker nodes of a cluster.
    Scale(ScaleArgs),
    /// kubectl inception certs: when a cluster's certificates and bootstrap token expire.
    ///
    /// One line per certificate of the cluster's PKI (its `pki` Secret in
    /// the parent): name, subject, expiry and days left, marking those with
    /// under 30 days left, which `up` renews when it is run again. Then the
    /// bootstrap token's expiry, if the cluster answers. Keys and the token
    /// itself are never printed.
    Certs(CertsArgs),
    /// kubectl inception pause: stop a cluster's node Pods, its state (and the clusters below it) kept on their claims.
    Pause(PauseArgs),
    /// kubectl inception resume: start a paused cluster again.
    Resume(PauseArgs),
    /// kubectl inception gc: find and remove what inception left behind.
    Gc(GcArgs),
    /// kubectl inception doctor: check that the current cluster can host nested clusters.
    Doctor(DoctorArgs),
    /// kubectl inception load: import image archives into every node of a cluster.
    ///
    /// Like `kind load image-archive`, at any depth: each archive is streamed
    /// through the tunnels to every Running node Pod of cluster PATH and
    /// imported there with `ctr -n k8s.io images import -`, one archive after
    /// the other, nodes in parallel. An archive is a `docker save` tar or an
    /// OCI layout tar (`docker save -o FILE IMAGE`, `ctr images export FILE
    /// IMAGE`, `skopeo copy docker://IMAGE oci-archive:FILE:NAME`); every
    /// archive is checked before any cluster is contacted.
    ///
    /// Prints one line per node and archive with the images imported. Only
    /// the nodes running now get the images: nodes added later (`scale`, a
    /// node Pod deleted and made again) do not have them; run load again
    /// after scale.
    Load(LoadArgs),
    /// kubectl inception completion: a shell completion script on stdout.
    ///
    /// bash: `source <(kubectl-inception completion bash)`; zsh: `source
    /// <(kubectl-inception completion zsh)`; fish: `kubectl-inception
    /// completion fish | source`. For `kubectl inception <TAB>` (kubectl
    /// 1.26 and later), put the executable script kubectl_complete-inception
    /// next to kubectl-inception on PATH.
    Completion(CompletionArgs),
    /// Completions in cobra's format, for kubectl's plugin completion
    /// (the `kubectl_complete-inception` script runs it).
    #[command(name = "__complete", hide = true, disable_help_flag = true)]
    Complete(CompleteArgs),
}

#[derive(Debug, Args, Clone)]
pub struct CompleteArgs {
    /// The words after `kubectl inception`, the last one being typed.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub words: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct CompletionArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// Cluster path (lab, lab/0/1).
    pub path: String,
    /// Image archives: `docker save` or OCI layout tars, imported in turn.
    #[arg(required = true, value_name = "ARCHIVE")]
    pub archives: Vec<std::path::PathBuf>,
    /// How long each node may take to import each archive.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct ConnectArgs {
    /// Cluster path (lab, lab/0/1).
    pub path: String,
    /// Local port of the tunnel (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Command to run with KUBECONFIG pointing at the cluster; without one,
    /// the context inception-PATH is added to your kubeconfig and the tunnel
    /// stays open until Ctrl-C, which removes the context again
    /// (`kubectl inception disconnect PATH` removes it if this was killed).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct DisconnectArgs {
    /// Cluster path (lab, lab/0/1).
    pub path: String,
}

#[derive(Debug, Args, Clone)]
pub struct ScaleArgs {
    /// Cluster path (lab, lab/0/1).
    pub path: String,
    /// Number of worker nodes wanted.
    #[arg(long)]
    pub workers: u32,
    /// Wait until the inner cluster has that many Ready nodes.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub wait: bool,
    /// How long to wait.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct CertsArgs {
    /// Cluster path (lab, lab/0/1).
    pub path: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: TreeFormat,
}

#[derive(Debug, Args, Clone)]
pub struct PauseArgs {
    /// Cluster path (lab, lab/0/1).
    pub path: String,
    /// Wait until its node Pods are gone (pause) or its nodes Ready (resume).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub wait: bool,
    /// How long to wait.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct GcArgs {
    /// Only list what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args, Clone)]
pub struct DoctorArgs {
    /// Tree name the checks plan for.
    #[arg(default_value = "doctor")]
    pub name: String,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: TreeFormat,
    /// Also run a short-lived privileged Pod (the node image) that reads a
    /// node's cgroup version, inotify and conntrack limits, /dev/kmsg and
    /// /lib/modules; it and its namespace are deleted afterwards.
    #[arg(long)]
    pub probe: bool,
    /// Print a ClusterRole granting every right the plugin uses in the
    /// current cluster (deploy/rbac.yaml) and exit; contacts no cluster.
    #[arg(long)]
    pub print_rbac: bool,
}

#[derive(Debug, Args, Clone)]
pub struct TestArgs {
    /// Cluster path (lab, lab/0/1).
    pub path: String,
    /// Leave the smoke test objects in place.
    #[arg(long)]
    pub keep: bool,
    /// How long the web server may take to be Ready.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct DownArgs {
    /// Tree name or cluster path (lab, lab/0/1).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub path: Option<String>,
    /// Delete every inception tree in the context.
    #[arg(long)]
    pub all: bool,
    /// Wait until the namespaces are gone (--wait=false returns once deletion has started).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub wait: bool,
    /// How long to wait for the namespaces to go.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct KubeconfigArgs {
    /// Cluster path (lab, lab/0/1).
    pub path: String,
    /// Address the apiserver by its Service name, for Pods of the parent cluster.
    #[arg(long)]
    pub internal: bool,
    /// Write the kubeconfig to FILE (mode 0600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub write: Option<std::path::PathBuf>,
    /// Local port of the tunnel (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Add the context inception-PATH to your kubeconfig and keep the tunnel
    /// open until Ctrl-C, which removes the context again (`kubectl
    /// inception disconnect PATH` removes it if this was killed).
    #[arg(long, conflicts_with_all = ["write", "internal"])]
    pub merge: bool,
    /// With --write: keep the tunnel open in a background process and
    /// return once FILE is written; `kubectl inception disconnect PATH`
    /// stops it.
    #[arg(long, requires = "write", conflicts_with_all = ["internal", "merge"])]
    pub detach: bool,
    /// The background process --detach starts: records its tunnel.
    #[arg(long, hide = true, requires = "write", conflicts_with_all = ["internal", "merge", "detach"])]
    pub detached: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TreeFormat {
    Table,
    Yaml,
    Json,
    /// The table with more columns (tree only).
    Wide,
}

/// Everything that shapes a plan, shared by `up` and `tree --plan`.
#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    /// Levels of nesting: 1 is a cluster in the current cluster.
    #[arg(long, default_value_t = 1)]
    pub depth: u32,
    /// Children of every cluster above the deepest level.
    #[arg(long, default_value_t = 1)]
    pub width: u32,
    /// Worker Pods per cluster (0 keeps the control plane schedulable).
    #[arg(long, default_value_t = 1)]
    pub workers: u32,
    /// CPU every node Pod requests from its parent (no limit).
    #[arg(long, default_value = "100m", value_name = "QUANTITY")]
    pub node_cpu: String,
    /// Memory every node Pod requests from its parent (no limit).
    #[arg(long, default_value = "256Mi", value_name = "QUANTITY")]
    pub node_memory: String,
    /// StorageClass of the top level's node state claims [default: the
    /// current cluster's default class; emptyDirs, with a warning, if none].
    #[arg(long, value_name = "CLASS", conflicts_with = "ephemeral")]
    pub storage_class: Option<String>,
    /// RuntimeClass of the top level's node Pods, where the current
    /// cluster offers a runtime for nested containers (e.g. sysbox).
    #[arg(long, value_name = "CLASS")]
    pub runtime_class: Option<String>,
    /// Keep node state in emptyDirs at every level: lost with its Pod.
    #[arg(long)]
    pub ephemeral: bool,
    /// Size of each node Pod's state claim.
    #[arg(long, default_value = "10Gi", value_name = "QUANTITY")]
    pub node_storage: String,
    /// Kubernetes release of every cluster in the tree [default: newest stable].
    #[arg(long, value_name = "VERSION", env = "INCEPTION_KUBERNETES_VERSION")]
    pub kubernetes_version: Option<String>,
    /// Node image [default: ghcr.io/kubectl-inception/node:<version>].
    #[arg(long, env = "INCEPTION_IMAGE")]
    pub image: Option<String>,
    /// Range to carve pod and service CIDRs from (repeatable).
    #[arg(long, value_name = "CIDR", default_value = nesting::cidr::DEFAULT_POOL)]
    pub cidr_pool: Vec<String>,
    /// Prefix length of each pod CIDR [default: 16 for IPv4, 56 for IPv6].
    #[arg(long, value_name = "BITS")]
    pub pod_prefix: Option<u8>,
    /// Prefix length of each service CIDR [default: 20 for IPv4, 112 for IPv6].
    #[arg(long, value_name = "BITS")]
    pub service_prefix: Option<u8>,
    /// Range no cluster may use (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub exclude: Vec<String>,
    /// Pod CIDR of the current cluster (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub parent_pod_cidr: Vec<String>,
    /// Service CIDR of the current cluster (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub parent_service_cidr: Vec<String>,
    /// Node address of the current cluster (repeatable).
    #[arg(long, value_name = "IP")]
    pub parent_node_ip: Vec<String>,
    /// DNS domain of the current cluster [default: found, else cluster.local].
    #[arg(long)]
    pub parent_domain: Option<String>,
    /// Directory of image archives on the current cluster's nodes, mounted
    /// into node Pods so they import images instead of pulling them.
    #[arg(long, value_name = "DIR", env = "INCEPTION_IMAGES_DIR")]
    pub images_dir: Option<String>,
    /// DNS domain of every new cluster.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Cluster DNS: the node agent on every node (builtin: no image to
    /// pull, works offline at any depth) or kubeadm's CoreDNS addon
    /// (coredns: its image must be pullable by the nodes).
    #[arg(long, value_enum, default_value = "builtin")]
    pub dns: DnsArg,
}

/// The planning flags, accepted but left out of the help (`tree --plan`).
#[derive(Debug, Clone)]
pub struct HiddenPlanArgs(pub PlanArgs);

impl clap::FromArgMatches for HiddenPlanArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        PlanArgs::from_arg_matches(m).map(HiddenPlanArgs)
    }
    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
}

impl Args for HiddenPlanArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        hide_plan_args(PlanArgs::augment_args(cmd))
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        hide_plan_args(PlanArgs::augment_args_for_update(cmd))
    }
}

fn hide_plan_args(cmd: clap::Command) -> clap::Command {
    let ids: Vec<clap::Id> = PlanArgs::augment_args(clap::Command::new("plan"))
        .get_arguments()
        .map(|a| a.get_id().clone())
        .collect();
    ids.into_iter()
        .fold(cmd, |cmd, id| cmd.mut_arg(id, |a| a.hide(true)))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DnsArg {
    Builtin,
    Coredns,
}

#[derive(Debug, Args, Clone)]
pub struct UpArgs {
    /// Name of the tree and of its top cluster.
    pub name: String,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Print every object of every level instead of creating them.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format for --dry-run.
    #[arg(short, long, value_enum, default_value = "yaml")]
    pub output: Format,
    /// Print private keys and tokens in --dry-run output.
    #[arg(long)]
    pub show_secrets: bool,
    /// Wait for the clusters to be Ready (--wait=false returns after apply).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub wait: bool,
    /// How long to wait for each level.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// Let a rerun restart an existing control plane whose node Pod would
    /// change (other --image or --images-dir, another kubectl-inception):
    /// the cluster restarts empty and every cluster below it is made again.
    /// Without it such a rerun is refused and changes nothing.
    #[arg(long)]
    pub allow_restart: bool,
}

#[derive(Debug, Args, Clone)]
#[command(
    after_help = "With --plan NAME, the planning flags of `up` apply too (--depth, --width, --workers, --cidr-pool, ...: see `kubectl inception up --help`)."
)]
pub struct TreeArgs {
    /// Show the tree that `up NAME` with the same flags would make.
    #[arg(long, value_name = "NAME")]
    pub plan: Option<String>,
    #[command(flatten)]
    pub plan_args: HiddenPlanArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: TreeFormat,
    /// Refresh the live tree until interrupted.
    #[arg(short, long, conflicts_with = "plan")]
    pub watch: bool,
    /// Time between refreshes with --watch.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn help(verb: &str) -> String {
        let mut cli = Cli::command();
        let cmd = cli.find_subcommand_mut(verb).unwrap();
        cmd.render_help().to_string()
    }

    #[test]
    fn tree_help_leaves_out_the_planning_flags_it_still_takes() {
        let h = help("tree");
        assert!(h.contains("--plan <NAME>"), "{h}");
        assert!(h.contains("--watch"), "{h}");
        for hidden in ["--depth", "--cidr-pool", "--parent-pod-cidr", "--dns <DNS>"] {
            assert!(!h.contains(&format!("  {hidden}")), "{hidden} in {h}");
        }
        assert!(h.contains("planning flags of `up`"), "{h}");
        let cli = Cli::try_parse_from([
            "kubectl-inception",
            "tree",
            "--plan",
            "lab",
            "--depth",
            "3",
            "--width",
            "2",
        ])
        .unwrap();
        let Command::Tree(t) = cli.command else {
            panic!("not tree")
        };
        assert_eq!((t.plan_args.0.depth, t.plan_args.0.width), (3, 2));
        assert!(help("up").contains("--depth <DEPTH>"));
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn down_wait_says_what_true_does() {
        let h = help("down");
        assert!(h.contains("Wait until the namespaces are gone"), "{h}");
    }
}
