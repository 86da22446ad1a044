"""smbus_proxy.SMBus against a server with TLS and client certificates: the `ca`, `cert` and
`key` arguments, and the same from the environment."""

import errno

import pytest
import trustme
from conftest import logged_server

from smbus_proxy import SMBus


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A server CA with a certificate for 127.0.0.1, and a client CA with one client."""
    d = tmp_path_factory.mktemp("pki")
    server_ca, client_ca = trustme.CA(), trustme.CA()
    server_ca.cert_pem.write_to_path(str(d / "server-ca.pem"))
    server = server_ca.issue_cert("127.0.0.1")
    server.cert_chain_pems[0].write_to_path(str(d / "server.pem"))
    server.private_key_pem.write_to_path(str(d / "server-key.pem"))
    client_ca.cert_pem.write_to_path(str(d / "client-ca.pem"))
    client = client_ca.issue_cert("bench-laptop")
    client.cert_chain_pems[0].write_to_path(str(d / "client.pem"))
    client.private_key_pem.write_to_path(str(d / "client-key.pem"))
    return d


@pytest.fixture(scope="module")
def mtls(pki):
    args = ["--tls-cert", pki / "server.pem", "--tls-key", pki / "server-key.pem"]
    args += ["--tls-client-ca", pki / "client-ca.pem"]
    with logged_server(*map(str, args)) as server:
        yield server


def test_mutual_tls_with_arguments(mtls, pki):
    with SMBus(
        1, server=mtls.url, ca=pki / "server-ca.pem", cert=pki / "client.pem", key=pki / "client-key.pem"
    ) as bus:
        bus.write_byte_data(0x48, 1, 0x5A)
        assert bus.read_byte_data(0x48, 1) == 0x5A


def test_mutual_tls_from_the_environment(mtls, pki, monkeypatch):
    monkeypatch.setenv("SMBUS_PROXY_SERVER", mtls.url)
    monkeypatch.setenv("SMBUS_PROXY_CA", str(pki / "server-ca.pem"))
    monkeypatch.setenv("SMBUS_PROXY_CERT", str(pki / "client.pem"))
    monkeypatch.setenv("SMBUS_PROXY_KEY", str(pki / "client-key.pem"))
    with SMBus(1) as bus:
        assert bus.read_byte_data(0x48, 0) == 0


def test_no_client_certificate_is_a_permission_error(mtls, pki):
    with pytest.raises(PermissionError) as raised:
        SMBus(1, server=mtls.url, ca=str(pki / "server-ca.pem"))
    assert raised.value.errno == errno.EACCES
    assert "client certificate: none presented" in str(raised.value)


def test_an_unknown_server_certificate_is_a_connection_error(mtls, pki):
    # The client CA did not sign the server's certificate.
    with pytest.raises(ConnectionError) as raised:
        SMBus(1, server=mtls.url, ca=pki / "client-ca.pem", cert=pki / "client.pem", key=pki / "client-key.pem")
    assert "UnknownIssuer" in str(raised.value)
