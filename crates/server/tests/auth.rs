//! Token authentication over a real socket: the right token passes, a wrong or missing one
//! gets UNAUTHENTICATED, health stays open.

use smbus_proxy_server::{Running, Server};
use smbus_proxy_sim::Config;
use smbus_proxy_wire::legacy::{self as rcp, smbus_rcp_client::SmbusRcpClient};
use smbus_proxy_wire::pb::{self, smbus_client::SmbusClient};
use tonic::{Code, Request};

const TOKEN: &str = "correct horse battery staple";

fn server() -> Running {
    Server::simulated(&Config::demo())
        .token(Some(TOKEN.into()))
        .spawn("127.0.0.1:0".parse().unwrap())
        .unwrap()
}

fn with_auth<T>(message: T, value: Option<&str>) -> Request<T> {
    let mut req = Request::new(message);
    if let Some(v) = value {
        req.metadata_mut().insert("authorization", v.parse().unwrap());
    }
    req
}

#[tokio::test]
async fn only_the_right_token_passes() {
    let server = server();
    let mut c = SmbusClient::connect(server.url()).await.unwrap();
    let bearer = format!("Bearer {TOKEN}");
    for (value, expected) in [
        (None, Some("authorization: missing; send `authorization: Bearer <token>`")),
        (Some("Bearer wrong"), Some("authorization: wrong token")),
        (Some("Bearer correct horse battery stapl"), Some("authorization: wrong token")),
        (Some(TOKEN), Some("authorization: missing; send `authorization: Bearer <token>`")),
        (Some(bearer.as_str()), None),
    ] {
        let result = c.list_buses(with_auth(pb::ListBusesRequest {}, value)).await;
        match expected {
            Some(message) => {
                let status = result.unwrap_err();
                assert_eq!((status.code(), status.message()), (Code::Unauthenticated, message), "{value:?}");
            }
            None => assert_eq!(result.unwrap().into_inner().buses.len(), 1),
        }
    }
    // The old interface is behind the same door.
    let mut legacy = SmbusRcpClient::connect(server.url()).await.unwrap();
    let status = legacy.open(rcp::OpenRequest { i2c_bus: 1 }).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let opened = legacy.open(with_auth(rcp::OpenRequest { i2c_bus: 1 }, Some(&bearer))).await.unwrap();
    assert_eq!(opened.into_inner().code, 0);
}

#[tokio::test]
async fn health_needs_no_token() {
    let server = server();
    let channel = tonic::transport::Channel::from_shared(server.url()).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let r = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
    assert_eq!(r.into_inner().status(), tonic_health::pb::health_check_response::ServingStatus::Serving);
}
