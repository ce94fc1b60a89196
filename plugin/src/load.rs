//! `load PATH ARCHIVE...`: image archives into every node of a cluster at
//! any depth, like `kind load image-archive`. Each archive is streamed on
//! the stdin of `ctr images import -` exec'd in each node Pod, through the
//! parent's API (reached through the tunnels of the levels above).
//!
//! Archives are checked before any cluster is contacted, by reading their
//! tar headers here rather than with the `tar` crate: the walk also proves
//! that every entry's data is in the file, and the plugin's manifest stays
//! as it is. The stream sent to each node always ends with the tar
//! end-of-archive marker: ctr stops reading there, so stdin never has to be
//! closed, which the exec protocol of Kubernetes before 1.29 cannot do
//! without closing the whole exec, status included.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::Api;
use kube::api::{AttachParams, ListParams};
use nesting::manifests::NODE_CONTAINER;
use nesting::{ClusterPath, labels};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::{Global, LoadArgs};
use crate::{client, kubeconfig_cmd, wait};

/// The command run in the node container; the archive comes on stdin.
pub const IMPORT: [&str; 6] = ["ctr", "-n", "k8s.io", "images", "import", "-"];
/// Node Pods importing one archive at once.
const PARALLEL: usize = 4;
/// Ways to make an archive, for error messages.
const HOW_TO_MAKE: &str = "make one with `docker save -o FILE IMAGE`, \
    `ctr images export FILE IMAGE` or `skopeo copy docker://IMAGE oci-archive:FILE:NAME`";
/// The last line of a successful load.
pub const LATER_NODES: &str =
    "nodes added later do not have these images: run load again after scale";

/// The two layouts `ctr images import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// An OCI image layout: `oci-layout` and `index.json`.
    Oci,
    /// `docker save`: `manifest.json`.
    Docker,
}

/// Which image archive a tar holding regular files `names` is, as
/// containerd reads it: an `oci-layout` file makes it an OCI layout (which
/// then needs `index.json`), else `manifest.json` a `docker save` archive.
pub fn archive_kind<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<ArchiveKind> {
    let (mut layout, mut index, mut manifest) = (false, false, false);
    for n in names {
        match n {
            "oci-layout" => layout = true,
            "index.json" => index = true,
            "manifest.json" => manifest = true,
            _ => {}
        }
    }
    match (layout, index, manifest) {
        (true, true, _) => Some(ArchiveKind::Oci),
        (true, false, _) => None,
        (false, _, true) => Some(ArchiveKind::Docker),
        _ => None,
    }
}

/// Why a tar is no image archive, in words, for `names` with no kind.
fn missing_files<'a>(names: impl IntoIterator<Item = &'a str>) -> &'static str {
    let names: Vec<&str> = names.into_iter().collect();
    let has = |f: &str| names.contains(&f);
    if has("oci-layout") {
        "oci-layout but no index.json"
    } else if has("index.json") {
        "index.json but no oci-layout"
    } else {
        "no index.json or manifest.json"
    }
}

/// The images `ctr images import` brought, from its output: one
/// `unpacking NAME (sha256:...)...done` line each.
pub fn imported_images(ctr_stdout: &str) -> Vec<String> {
    ctr_stdout
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("unpacking ")?;
            let (name, rest) = rest.split_once(" (")?;
            let (digest, rest) = rest.split_once(")...")?;
            (digest.contains(':') && rest.trim() == "done" && !name.is_empty())
                .then(|| name.to_string())
        })
        .collect()
}

/// The exit code in an exec's failure status, when the process ran.
pub fn exit_code(status: &Status) -> Option<i32> {
    let causes = status.details.as_ref()?.causes.as_ref()?;
    causes
        .iter()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))
        .and_then(|c| c.message.as_deref()?.trim().parse().ok())
}

/// The last `n` non-empty lines of `text`, joined with " / ".
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

/// The compression a file starting with `head` has, if any: ctr reads
/// plain tar only.
pub fn compression(head: &[u8]) -> Option<(&'static str, &'static str)> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(("gzip", "gunzip -k"))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(("zstd", "zstd -d"))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(("xz", "xz -dk"))
    } else if head.starts_with(b"BZh") {
        Some(("bzip2", "bunzip2 -k"))
    } else {
        None
    }
}

/// Tar paths as containerd compares them (Go's `path.Clean`, without `..`).
fn clean(name: &str) -> String {
    let parts: Vec<&str> = name
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let joined = parts.join("/");
    if name.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

/// A tar number field: octal, or base-256 when the high bit is set.
fn tar_number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        if field[0] & 0x40 != 0 {
            return None; // negative
        }
        let mut v: u64 = u64::from(field[0] & 0x3f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let text = std::str::from_utf8(field).ok()?;
    let text = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

fn header_checksum_ok(block: &[u8; 512]) -> bool {
    let Some(want) = tar_number(&block[148..156]) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    want == unsigned || i64::try_from(want).is_ok_and(|w| w == signed)
}

/// A C string field.
fn field_text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// The `path` and `size` records of a PAX extended header.
fn pax_records(data: &[u8]) -> (Option<String>, Option<u64>) {
    let (mut path, mut size) = (None, None);
    let mut rest = data;
    while !rest.is_empty() {
        let Some(sp) = rest.iter().position(|&b| b == b' ') else {
            break;
        };
        let Some(len) = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
        else {
            break;
        };
        if len <= sp || len > rest.len() {
            break;
        }
        let record = &rest[sp + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            let (k, v) = (&record[..eq], &record[eq + 1..]);
            match k {
                b"path" => path = Some(String::from_utf8_lossy(v).into_owned()),
                b"size" => size = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()),
                _ => {}
            }
        }
        rest = &rest[len..];
    }
    (path, size)
}

/// Types whose header says nothing about data (Go's `isHeaderOnlyType`).
fn header_only(typeflag: u8) -> bool {
    matches!(typeflag, b'1'..=b'6')
}

/// Paths of the regular files in the tar `r` of `len` bytes, cleaned, from
/// its headers alone; an error in words when it is no tar, or is cut
/// short. A tar may end without its end-of-archive marker: the stream sent
/// to the nodes always gets one.
pub fn tar_file_names<R: Read + Seek>(r: &mut R, len: u64) -> Result<Vec<String>, String> {
    const BLOCK: u64 = 512;
    const MAX_META: u64 = 1 << 20;
    let mut names = Vec::new();
    let mut pos = 0u64;
    let mut long_name: Option<String> = None;
    let mut pax_size: Option<u64> = None;
    let mut block = [0u8; 512];
    let read_at = |r: &mut R, pos: u64, buf: &mut [u8]| -> Result<(), String> {
        r.seek(SeekFrom::Start(pos))
            .and_then(|_| r.read_exact(buf))
            .map_err(|e| format!("cannot read it: {e}"))
    };
    loop {
        if pos == len && pos > 0 {
            return Ok(names);
        }
        if pos + BLOCK > len {
            return Err(if pos == 0 {
                "not a tar file".into()
            } else {
                format!("cut short at byte {len}")
            });
        }
        read_at(r, pos, &mut block)?;
        pos += BLOCK;
        if block.iter().all(|&b| b == 0) {
            if pos == BLOCK {
                return Err("not a tar file (it starts with zeros)".into());
            }
            // End of archive, unless a second block says otherwise.
            if pos + BLOCK <= len {
                read_at(r, pos, &mut block)?;
                if block.iter().any(|&b| b != 0) {
                    return Err(format!("a lone zero block at byte {}", pos - BLOCK));
                }
            }
            return Ok(names);
        }
        if !header_checksum_ok(&block) {
            return Err(if pos == BLOCK {
                "not a tar file".into()
            } else {
                format!("corrupt tar header at byte {}", pos - BLOCK)
            });
        }
        let typeflag = block[156];
        let size = match pax_size.take() {
            Some(s) => s,
            None => tar_number(&block[124..136])
                .ok_or_else(|| format!("corrupt size in the tar header at byte {}", pos - BLOCK))?,
        };
        let data = if header_only(typeflag) { 0 } else { size };
        let mut name = field_text(&block[..100]);
        if &block[257..263] == b"ustar\0" {
            let prefix = field_text(&block[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        let name = long_name.take().unwrap_or(name);
        if data > len - pos {
            return Err(format!("cut short in {name:?}"));
        }
        match typeflag {
            b'L' | b'x' => {
                if data > MAX_META {
                    return Err(format!("corrupt tar header at byte {}", pos - BLOCK));
                }
                let mut buf = vec![0u8; data as usize];
                read_at(r, pos, &mut buf)?;
                if typeflag == b'L' {
                    long_name = Some(field_text(&buf));
                } else {
                    let (path, size) = pax_records(&buf);
                    long_name = path;
                    pax_size = size;
                }
            }
            b'0' | 0 | b'7' => names.push(clean(&name)),
            _ => {}
        }
        pos += data.div_ceil(BLOCK) * BLOCK;
        pos = pos.min(len);
    }
}

/// An archive that passed the checks.
#[derive(Debug)]
struct Archive {
    path: PathBuf,
    kind: ArchiveKind,
    size: u64,
}

impl Archive {
    fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

/// Exists, is a readable regular file, and is a tar `ctr` can import.
fn check_archive(path: &Path) -> Result<Archive> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "archive {shown}: no such file: give the path of an image archive ({HOW_TO_MAKE})"
            )
        }
        Err(e) => bail!("archive {shown}: cannot read it: {e}"),
    };
    if meta.is_dir() {
        bail!(
            "archive {shown} is a directory: give a tar file (for an OCI layout directory: `tar -cf {}.tar -C {shown} .`)",
            shown.to_string().trim_end_matches('/')
        );
    }
    if !meta.is_file() {
        bail!(
            "archive {shown} is not a regular file: every node gets the whole file, so save the image to a file first ({HOW_TO_MAKE})"
        );
    }
    let mut file =
        std::fs::File::open(path).map_err(|e| anyhow!("archive {shown}: cannot read it: {e}"))?;
    let len = meta.len();
    let mut head = [0u8; 8];
    let n = file
        .read(&mut head)
        .map_err(|e| anyhow!("archive {shown}: cannot read it: {e}"))?;
    if let Some((what, undo)) = compression(&head[..n]) {
        bail!(
            "archive {shown} is {what}-compressed: ctr imports plain tar archives only; decompress it first (`{undo} {shown}`)"
        );
    }
    let names = tar_file_names(&mut file, len)
        .map_err(|why| anyhow!("archive {shown} is not an image archive ({why}): {HOW_TO_MAKE}"))?;
    let kind = archive_kind(names.iter().map(String::as_str)).ok_or_else(|| {
        anyhow!(
            "archive {shown} is not an image archive ({}): {HOW_TO_MAKE}",
            missing_files(names.iter().map(String::as_str))
        )
    })?;
    Ok(Archive {
        path: path.to_path_buf(),
        kind,
        size: len,
    })
}

pub async fn load(global: &Global, args: &LoadArgs, out: &mut impl Write) -> Result<()> {
    let path: ClusterPath = args.path.parse()?;
    // Every archive, before any cluster is contacted; all bad ones at once.
    let mut archives = Vec::new();
    let mut bad = Vec::new();
    for a in &args.archives {
        match check_archive(a) {
            Ok(a) => archives.push(a),
            Err(e) => bad.push(format!("{e:#}")),
        }
    }
    if !bad.is_empty() {
        bail!("{}\nnothing was imported", bad.join("\n"));
    }
    for a in &archives {
        tracing::info!(archive = %a.path.display(), kind = ?a.kind, bytes = a.size, "archive checked");
    }
    let root = client::connect(global).await?;
    let (parent, ns, tunnels) = kubeconfig_cmd::reach(&root.client, &path).await?;
    let res = load_into(
        &Api::namespaced(parent, &ns),
        &path,
        &ns,
        &archives,
        args.timeout,
        out,
    )
    .await;
    for t in tunnels {
        t.abort();
    }
    res
}

/// The Running node Pods of cluster `path`, by name; writes a line for
/// each one that is not running.
async fn node_pods(
    pods: &Api<Pod>,
    path: &ClusterPath,
    ns: &str,
    out: &mut impl Write,
) -> Result<Vec<String>> {
    let selector = format!("{},{}={}", labels::ROLE, labels::PATH, path.dotted());
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .with_context(|| format!("cannot list the node Pods of cluster {path} (namespace {ns})"))?
        .items;
    let mut running = Vec::new();
    let mut others = Vec::new();
    for p in list {
        if p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = p.metadata.name.unwrap_or_default();
        let phase = p.status.and_then(|s| s.phase).unwrap_or_default();
        if phase == "Running" {
            running.push(name);
        } else {
            others.push((name, phase));
        }
    }
    running.sort();
    others.sort();
    if running.is_empty() {
        let found = if others.is_empty() {
            "none at all".to_string()
        } else {
            others
                .iter()
                .map(|(n, p)| format!("{n} {p}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        bail!(
            "cluster {path} has no Running node Pods in namespace {ns} ({found}): \
             wait for `kubectl inception up` to finish (`kubectl inception tree` shows the cluster); nothing was imported"
        );
    }
    for (n, phase) in &others {
        writeln!(
            out,
            "{path} {n}: skipped (Pod is {phase}): run load again once it runs"
        )?;
    }
    Ok(running)
}

async fn load_into(
    pods: &Api<Pod>,
    path: &ClusterPath,
    ns: &str,
    archives: &[Archive],
    timeout: Duration,
    out: &mut impl Write,
) -> Result<()> {
    let nodes = node_pods(pods, path, ns, out).await?;
    let several = archives.len() > 1;
    let mut failures = Vec::new();
    let mut imported = 0;
    let multi = indicatif::MultiProgress::new();
    for archive in archives {
        let bars: Vec<_> = nodes
            .iter()
            .map(|n| {
                wait::bar(
                    &multi,
                    n.clone(),
                    &format!(
                        "importing {} ({:.1} MiB)",
                        archive.file_name(),
                        archive.size as f64 / 1048576.0
                    ),
                )
            })
            .collect();
        let results: Vec<Result<(Vec<String>, Duration)>> =
            futures::stream::iter(nodes.iter().zip(&bars).map(|(node, pb)| async move {
                let r = import(pods, node, archive, timeout).await;
                pb.finish_and_clear();
                r
            }))
            .buffered(PARALLEL)
            .collect()
            .await;
        let from = if several {
            format!(" from {}", archive.file_name())
        } else {
            String::new()
        };
        for (node, r) in nodes.iter().zip(results) {
            match r {
                Ok((images, took)) => {
                    imported += 1;
                    writeln!(
                        out,
                        "{path} {node}: imported {}{from} ({:.1}s)",
                        images.join(", "),
                        took.as_secs_f64()
                    )?;
                }
                Err(e) => {
                    failures.push(format!("{path} {node}: {}: {e:#}", archive.path.display()))
                }
            }
        }
        out.flush()?;
    }
    if imported > 0 {
        writeln!(out, "{LATER_NODES}")?;
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} imports into cluster {path} failed:\n  {}",
            failures.len(),
            nodes.len() * archives.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// Imports `archive` in node Pod `pod`: the images it brought and the time.
async fn import(
    pods: &Api<Pod>,
    pod: &str,
    archive: &Archive,
    timeout: Duration,
) -> Result<(Vec<String>, Duration)> {
    let start = Instant::now();
    let images = tokio::time::timeout(timeout, import_once(pods, pod, archive))
        .await
        .map_err(|_| {
            anyhow!(
                "ctr did not finish in {} (--timeout)",
                humantime::format_duration(timeout)
            )
        })??;
    Ok((images, start.elapsed()))
}

async fn import_once(pods: &Api<Pod>, pod: &str, archive: &Archive) -> Result<Vec<String>> {
    let ap = AttachParams::default()
        .container(NODE_CONTAINER)
        .stdin(true)
        .stdout(true)
        .stderr(true)
        .max_stdin_buf_size(1 << 20)
        .max_stdout_buf_size(64 << 10)
        .max_stderr_buf_size(64 << 10);
    let mut proc = pods
        .exec(pod, IMPORT, &ap)
        .await
        .with_context(|| format!("cannot run ctr in container {NODE_CONTAINER}"))?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr), Some(status)) = (
        proc.stdin(),
        proc.stdout(),
        proc.stderr(),
        proc.take_status(),
    ) else {
        bail!("the exec gave no stdin, stdout, stderr or status");
    };
    let file = archive.path.clone();
    let feed = async move {
        let mut f = tokio::fs::File::open(&file).await?;
        tokio::io::copy(&mut f, &mut stdin).await?;
        // The end-of-archive marker, in case the file has none: ctr stops
        // there. stdin stays open until ctr has exited (see the module doc).
        stdin.write_all(&[0u8; 1024]).await?;
        stdin.flush().await?;
        Ok::<_, std::io::Error>(stdin)
    };
    let read_out = async {
        let mut b = Vec::new();
        stdout.read_to_end(&mut b).await.map(|_| b)
    };
    let read_err = async {
        let mut b = Vec::new();
        stderr.read_to_end(&mut b).await.map(|_| b)
    };
    // stdout and stderr end when the exec does, so stdin is held until then.
    let (fed, out, err) = tokio::join!(feed, read_out, read_err);
    let status = status.await;
    let fed = fed.map(drop);
    let _ = proc.join().await;
    let out = String::from_utf8_lossy(&out.unwrap_or_default()).into_owned();
    let err = String::from_utf8_lossy(&err.unwrap_or_default()).into_owned();
    let said = if err.trim().is_empty() { &out } else { &err };
    match status {
        Some(s) if s.status.as_deref() == Some("Success") => {}
        Some(s) => match exit_code(&s) {
            Some(code) => bail!("ctr exited with code {code}: {}", last_lines(said, 3)),
            None => bail!(
                "ctr failed: {} {}",
                s.message.unwrap_or_default(),
                last_lines(said, 3)
            ),
        },
        None => {
            let why = match fed {
                Err(e) => format!(" (sending the archive: {e})"),
                Ok(()) => String::new(),
            };
            bail!(
                "the exec ended without an exit status{why}: {}",
                last_lines(said, 3)
            );
        }
    }
    let images = imported_images(&out);
    if images.is_empty() {
        bail!(
            "ctr imported no named image: the archive names none (tag the image before saving it); ctr said: {}",
            last_lines(&format!("{out}\n{err}"), 3)
        );
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ustar archive of regular files.
    fn tar(entries: &[(&str, &[u8])], end: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in entries {
            let mut h = [0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[100..107].copy_from_slice(b"0000644");
            h[108..115].copy_from_slice(b"0000000");
            h[116..123].copy_from_slice(b"0000000");
            h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
            h[136..147].copy_from_slice(b"00000000000");
            h[156] = b'0';
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            h[148..156].copy_from_slice(b"        ");
            let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
            h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        if end {
            out.resize(out.len() + 1024, 0);
        }
        out
    }

    fn names(bytes: &[u8]) -> Result<Vec<String>, String> {
        tar_file_names(&mut std::io::Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn kinds_as_containerd_reads_them() {
        use ArchiveKind::*;
        assert_eq!(
            archive_kind(["oci-layout", "index.json", "blobs/sha256/ab"]),
            Some(Oci)
        );
        assert_eq!(
            archive_kind(["manifest.json", "abc/layer.tar"]),
            Some(Docker)
        );
        // Docker 25+ writes both: containerd prefers the OCI layout.
        assert_eq!(
            archive_kind(["manifest.json", "index.json", "oci-layout"]),
            Some(Oci)
        );
        assert_eq!(archive_kind(["oci-layout", "manifest.json"]), None);
        assert_eq!(archive_kind(["index.json"]), None);
        assert_eq!(archive_kind(["etc/passwd"]), None);
        assert_eq!(archive_kind([]), None);
        assert_eq!(
            missing_files(["index.json"]),
            "index.json but no oci-layout"
        );
        assert_eq!(missing_files(["a"]), "no index.json or manifest.json");
    }

    #[test]
    fn ctr_output_names_the_images() {
        let out = "unpacking localhost/foo:1 (sha256:0123abcd)...done\n\
                   unpacking docker.io/library/busybox:latest (sha256:ffee)...done\n";
        assert_eq!(
            imported_images(out),
            ["localhost/foo:1", "docker.io/library/busybox:latest"]
        );
        // An unpack that did not finish brought nothing usable.
        assert!(imported_images("unpacking localhost/foo:1 (sha256:0123)...").is_empty());
        assert!(imported_images("").is_empty());
        assert!(imported_images("ctr: unrecognized image format").is_empty());
    }

    #[test]
    fn exit_codes_and_last_lines() {
        let s: Status = serde_json::from_value(serde_json::json!({
            "metadata": {}, "status": "Failure",
            "message": "command terminated with non-zero exit code: error executing command [ctr], exit code 1",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": "1"}]}
        }))
        .unwrap();
        assert_eq!(exit_code(&s), Some(1));
        assert_eq!(exit_code(&Status::default()), None);
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b / c");
        assert_eq!(last_lines("", 3), "");
    }

    #[test]
    fn compressed_archives_are_named() {
        assert_eq!(compression(&[0x1f, 0x8b, 8]).unwrap().0, "gzip");
        assert_eq!(compression(&[0x28, 0xb5, 0x2f, 0xfd]).unwrap().0, "zstd");
        assert_eq!(compression(b"index.json"), None);
    }

    #[test]
    fn tar_headers_list_the_files() {
        let t = tar(
            &[
                ("./oci-layout", b"{\"imageLayoutVersion\":\"1.0.0\"}"),
                ("./index.json", b"{}"),
                ("blobs/sha256/00", &[7u8; 700]),
            ],
            true,
        );
        assert_eq!(
            names(&t).unwrap(),
            ["oci-layout", "index.json", "blobs/sha256/00"]
        );
        // No end marker: the stream sent to the nodes gets one.
        let t = tar(&[("manifest.json", b"[]")], false);
        assert_eq!(names(&t).unwrap(), ["manifest.json"]);
    }

    #[test]
    fn not_tars_and_cut_tars_are_refused() {
        assert_eq!(names(b"").unwrap_err(), "not a tar file");
        let text = b"hello, this is not a tar file\n".repeat(40);
        assert_eq!(names(&text).unwrap_err(), "not a tar file");
        assert!(names(&[0u8; 2048]).unwrap_err().contains("zeros"));
        let t = tar(&[("manifest.json", &[b'x'; 2000])], true);
        let cut = &t[..1024];
        assert!(names(cut).unwrap_err().contains("cut short"), "{cut:?}");
        let mut bad = t.clone();
        bad[10] ^= 1;
        assert_eq!(names(&bad).unwrap_err(), "not a tar file");
    }

    #[test]
    fn long_names_and_numbers() {
        assert_eq!(tar_number(b"0000644\0"), Some(0o644));
        assert_eq!(tar_number(b"   12 \0"), Some(0o12));
        assert_eq!(
            tar_number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
            Some(256)
        );
        assert_eq!(tar_number(b"9"), None);
        assert_eq!(
            pax_records(b"30 path=a/very/long/name.json\n11 size=42\n"),
            (Some("a/very/long/name.json".into()), Some(42))
        );
        assert_eq!(clean("./a//b/./c"), "a/b/c");
        assert_eq!(clean("/index.json"), "/index.json");
    }
}
