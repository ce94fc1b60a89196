//! `load`: two image archives made here, offline (an OCI layout and a
//! `docker save` archive, one tiny layer each), reach every node of a
//! booted cluster with one worker; ctr in each node Pod lists them after.

use inception_tests::Lab;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{AttachParams, ListParams};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

const OCI_NAME: &str = "localhost/inception-load-test:1";
const DOCKER_NAME: &str = "localhost/inception-load-docker:1";

/// A ustar archive of regular files, with its end-of-archive marker.
fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// This machine's architecture as images name it.
fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// One uncompressed layer with one file, and the image config naming it.
fn layer_and_config(tag: &str) -> (Vec<u8>, Vec<u8>) {
    let layer = tar_of(&[(
        "inception-load-test.txt",
        format!("loaded by kubectl inception load as {tag}\n").as_bytes(),
    )]);
    let config = json!({
        "architecture": goarch(),
        "os": "linux",
        "config": { "Cmd": ["/bin/true"] },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{}", hex(&layer))] },
    });
    (layer, serde_json::to_vec(&config).unwrap())
}

/// An OCI layout tar of image `name`.
fn oci_archive(name: &str) -> Vec<u8> {
    let (layer, config) = layer_and_config(name);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", hex(&config)),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{}", hex(&layer)),
            "size": layer.len(),
        }],
    }))
    .unwrap();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", hex(&manifest)),
            "size": manifest.len(),
            "annotations": {
                "org.opencontainers.image.ref.name": name,
                "io.containerd.image.name": name,
            },
        }],
    }))
    .unwrap();
    let blob = |b: &[u8]| format!("blobs/sha256/{}", hex(b));
    let (bl, bc, bm) = (blob(&layer), blob(&config), blob(&manifest));
    tar_of(&[
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
        (&bl, &layer),
        (&bc, &config),
        (&bm, &manifest),
        ("index.json", &index),
    ])
}

/// A `docker save` tar of image `name`.
fn docker_archive(name: &str) -> Vec<u8> {
    let (layer, config) = layer_and_config(name);
    let config_file = format!("{}.json", hex(&config));
    let layer_file = format!("{}/layer.tar", hex(&layer));
    let manifest = serde_json::to_vec(&json!([{
        "Config": config_file,
        "RepoTags": [name],
        "Layers": [layer_file],
    }]))
    .unwrap();
    tar_of(&[
        (&config_file, &config),
        (&layer_file, &layer),
        ("manifest.json", &manifest),
    ])
}

/// `ctr -n k8s.io images ls -q` in node Pod `pod`.
async fn images_in(pods: &Api<Pod>, pod: &str) -> Vec<String> {
    let ap = AttachParams::default().container("node").stderr(false);
    let mut p = pods
        .exec(pod, ["ctr", "-n", "k8s.io", "images", "ls", "-q"], &ap)
        .await
        .unwrap();
    let mut out = String::new();
    p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
    let _ = p.join().await;
    out.lines().map(str::to_string).collect()
}

#[tokio::test]
async fn images_reach_every_node() {
    let lab = Lab::with_node();
    lab.ok(&["down", "load"]);
    lab.up_booting("load", &["--workers", "1"]);

    let dir = std::env::temp_dir().join(format!("inception-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let oci = dir.join("oci.tar");
    let docker = dir.join("docker.tar");
    std::fs::write(&oci, oci_archive(OCI_NAME)).unwrap();
    std::fs::write(&docker, docker_archive(DOCKER_NAME)).unwrap();
    let (oci, docker) = (oci.to_str().unwrap(), docker.to_str().unwrap());

    let parent = lab.client().await;
    let pods: Api<Pod> = Api::namespaced(parent, "inception-load");
    let mut node_pods: Vec<String> = (pods.list(&ListParams::default()).await.unwrap().items)
        .into_iter()
        .map(|p| p.metadata.name.unwrap())
        .collect();
    node_pods.sort();
    assert_eq!(node_pods.len(), 2, "{node_pods:?}");

    // Both archives, every node: one line per node and archive.
    let out = lab.ok(&["load", "load", oci, docker]);
    for pod in &node_pods {
        for (name, file) in [(OCI_NAME, "oci.tar"), (DOCKER_NAME, "docker.tar")] {
            let want = format!("load {pod}: imported {name} from {file} (");
            assert!(out.contains(&want), "no {want:?} in:\n{out}");
        }
    }
    assert_eq!(out.lines().count(), 5, "{out}");
    assert_eq!(
        out.lines().last(),
        Some("nodes added later do not have these images: run load again after scale"),
        "{out}"
    );

    // containerd in each node Pod has them.
    for pod in &node_pods {
        let images = images_in(&pods, pod).await;
        for name in [OCI_NAME, DOCKER_NAME] {
            assert!(
                images.iter().any(|i| i == name),
                "{name} not in {pod}: {images:?}"
            );
        }
    }

    // Again: importing what is there already is fine.
    let out = lab.ok(&["load", "load", oci]);
    for pod in &node_pods {
        let want = format!("load {pod}: imported {OCI_NAME} (");
        assert!(out.contains(&want), "no {want:?} in:\n{out}");
    }

    // A cluster that does not exist: said, after the archives passed.
    let err = lab.fails(&["load", "load/7", oci]);
    assert!(err.contains("no cluster load/7"), "{err}");

    let _ = std::fs::remove_dir_all(&dir);
    lab.ok(&["down", "load"]);
}
