//! Image archives, checked before any cluster is contacted: a tar
//! `ctr images import` reads, whole, uncompressed.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

/// Ways to make an archive, for error messages.
const HOW_TO_MAKE: &str = "make one with `docker save -o FILE IMAGE`, \
    `ctr images export FILE IMAGE` or `skopeo copy docker://IMAGE oci-archive:FILE:NAME`";
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

/// Paths of the regular files in a tar, cleaned, read with the `tar`
/// crate (headers checked, data skipped); an error in words when it is no
/// tar or is cut short. A tar may end without its end-of-archive marker:
/// the stream sent to the nodes always gets one.
pub fn tar_file_names<R: Read>(r: R) -> Result<Vec<String>, String> {
    let mut archive = tar::Archive::new(r);
    let entries = archive
        .entries()
        .map_err(|e| format!("cannot read it: {e}"))?;
    let mut names = Vec::new();
    let mut any = false;
    for entry in entries {
        let entry = entry.map_err(|e| {
            if any {
                format!("cut short or damaged after {} files: {e}", names.len())
            } else {
                "not a tar file".to_string()
            }
        })?;
        any = true;
        if entry.header().entry_type().is_file() {
            let path = entry
                .path()
                .map_err(|e| format!("a file name it holds is not valid: {e}"))?;
            names.push(clean(&path.to_string_lossy()));
        }
    }
    if !any {
        return Err("not a tar file".into());
    }
    Ok(names)
}

/// An archive that passed the checks.
#[derive(Debug)]
pub struct Archive {
    pub path: PathBuf,
    pub kind: ArchiveKind,
    pub size: u64,
}

impl Archive {
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

/// Exists, is a readable regular file, and is a tar `ctr` can import.
pub fn check_archive(path: &Path) -> Result<Archive> {
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
    file.seek(SeekFrom::Start(0))
        .map_err(|e| anyhow!("archive {shown}: cannot read it: {e}"))?;
    let names = tar_file_names(std::io::BufReader::new(file))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A ustar archive of regular files.
    fn tar(entries: &[(&str, &[u8])], end: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, *data).unwrap();
        }
        let mut out = b.into_inner().unwrap();
        if !end {
            out.truncate(out.len() - 1024);
        }
        out
    }

    fn names(bytes: &[u8]) -> Result<Vec<String>, String> {
        tar_file_names(std::io::Cursor::new(bytes))
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
        assert_eq!(names(&[0u8; 2048]).unwrap_err(), "not a tar file");
        let t = tar(&[("manifest.json", &[b'x'; 2000])], true);
        let cut = &t[..1024];
        assert!(names(cut).unwrap_err().contains("cut short"), "{cut:?}");
        let mut bad = t.clone();
        bad[10] ^= 1;
        assert_eq!(names(&bad).unwrap_err(), "not a tar file");
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean("./a//b/./c"), "a/b/c");
        assert_eq!(clean("/index.json"), "/index.json");
    }
}
