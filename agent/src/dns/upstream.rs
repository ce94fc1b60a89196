//! Forwarding names outside the cluster domain to the node's own
//! resolvers, over UDP and, for truncated answers, TCP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{Context, Result, bail};
use hickory_server::proto::op::{Message, MessageType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The `nameserver` lines of a resolv.conf, port 53 (scoped link-local
/// addresses are skipped).
pub fn upstreams_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next()? != "nameserver" {
                return None;
            }
            let ip: IpAddr = words.next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

pub(super) async fn exchange_udp(server: SocketAddr, query: &[u8]) -> Result<Message> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)
        .await
        .context("cannot bind a UDP socket to forward DNS")?;
    socket
        .connect(server)
        .await
        .with_context(|| format!("cannot reach upstream DNS {server}"))?;
    socket
        .send(query)
        .await
        .with_context(|| format!("cannot send to upstream DNS {server}"))?;
    let id = query_id(query)?;
    let mut buf = vec![0; 65535];
    loop {
        let n = socket
            .recv(&mut buf)
            .await
            .with_context(|| format!("no answer from upstream DNS {server}"))?;
        // Stray or malformed datagrams are skipped; the timeout bounds this.
        if let Ok(answer) = Message::from_vec(&buf[..n])
            && answer.metadata.id == id
            && answer.metadata.message_type == MessageType::Response
        {
            return Ok(answer);
        }
    }
}

pub(super) async fn exchange_tcp(server: SocketAddr, query: &[u8]) -> Result<Message> {
    let mut stream = TcpStream::connect(server)
        .await
        .with_context(|| format!("cannot connect to upstream DNS {server}"))?;
    let len = u16::try_from(query.len()).context("DNS query too long")?;
    let mut out = Vec::with_capacity(query.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(query);
    stream
        .write_all(&out)
        .await
        .with_context(|| format!("cannot send to upstream DNS {server}"))?;
    let mut len = [0; 2];
    stream
        .read_exact(&mut len)
        .await
        .with_context(|| format!("no answer from upstream DNS {server}"))?;
    let mut buf = vec![0; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut buf)
        .await
        .with_context(|| format!("short answer from upstream DNS {server}"))?;
    let answer = Message::from_vec(&buf)
        .with_context(|| format!("bad answer from upstream DNS {server}"))?;
    if answer.metadata.id != query_id(query)? {
        bail!("upstream DNS {server} answered another query");
    }
    Ok(answer)
}

pub(super) fn query_id(query: &[u8]) -> Result<u16> {
    match query {
        [a, b, ..] => Ok(u16::from_be_bytes([*a, *b])),
        _ => bail!("DNS query too short"),
    }
}
