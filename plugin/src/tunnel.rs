//! A local tunnel to a Pod's port, through the API of the cluster it runs
//! in. The task that carries it stops when the [`Tunnel`] is dropped.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Listens on 127.0.0.1 and carries each connection to a Pod's port with a
/// port-forward. Closed on drop.
#[derive(Debug)]
pub struct Tunnel {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Tunnel {
    /// Listens on 127.0.0.1:`local` (0: any free port) and carries each
    /// connection to `pod:port` in `namespace` through `client`'s API.
    pub async fn open(
        client: Client,
        namespace: &str,
        pod: &str,
        port: u16,
        local: u16,
    ) -> Result<Tunnel> {
        let listener = TcpListener::bind(("127.0.0.1", local))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{local}"))?;
        let addr = listener.local_addr()?;
        let pods: Api<Pod> = Api::namespaced(client, namespace);
        let task = tokio::spawn(serve(listener, pods, pod.to_string(), port));
        Ok(Tunnel { addr, task })
    }

    /// The local address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Resolves when the tunnel's task ends (it does not on its own).
    pub async fn closed(&mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections forever, one port-forward each.
async fn serve(listener: TcpListener, pods: Api<Pod>, pod: String, port: u16) {
    loop {
        let (mut conn, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::debug!("tunnel accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let pods = pods.clone();
        let pod = pod.clone();
        tokio::spawn(async move {
            let mut pf = match pods.portforward(&pod, &[port]).await {
                Ok(pf) => pf,
                Err(e) => {
                    tracing::warn!(%peer, "port-forward to {pod}:{port} failed: {e}");
                    return;
                }
            };
            let Some(mut upstream) = pf.take_stream(port) else {
                return;
            };
            if let Err(e) = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await {
                tracing::debug!(%peer, "tunnel connection closed: {e}");
            }
            drop(upstream);
            let _ = pf.join().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drop_closes_the_listener() {
        let (mock, _handle) = tower_test::mock::pair::<
            http::Request<kube::client::Body>,
            http::Response<kube::client::Body>,
        >();
        let client = Client::new(mock, "default");
        let t = Tunnel::open(client, "ns", "pod-0", 6443, 0).await.unwrap();
        let addr = t.addr();
        assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
        drop(t);
        // The aborted task drops the listener at its next poll.
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{addr} still accepts connections after the tunnel was dropped");
    }
}
