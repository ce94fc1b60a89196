//! Whether the current cluster's nodes can get the node image.

use super::Check;

/// What a short-lived Pod with the node image came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pull {
    /// Its container started on `node`: the image is there or was pulled.
    Ran { node: String },
    /// The kubelet gave up on the image (ErrImagePull, InvalidImageName...).
    Refused(String),
    /// Neither within the wait (a large image on a slow link, or Pending).
    Slow(String),
    /// Not tried: no node takes Pods, or no namespace to try in.
    Skipped(String),
}

/// The verdict on the node image `image`.
pub fn image(image: &str, pull: &Pull) -> Check {
    match pull {
        Pull::Ran { node } => Check::ok("image", format!("node {node} has {image}")),
        Pull::Refused(why) => Check::fail(
            "image",
            format!("the nodes cannot get {image}: {why}"),
            "pass --image with an image the nodes can pull (or have: kind load docker-image, ctr images import); offline, keep inner images with --images-dir",
        ),
        Pull::Slow(why) => Check::warn(
            "image",
            format!("{image} did not start in time: {why}"),
            "a first pull of the node image can take minutes: pull it ahead on the nodes, or run doctor again",
        ),
        Pull::Skipped(why) => {
            Check::warn("image", format!("not tried: {why}"), "see the nodes check")
        }
    }
}
