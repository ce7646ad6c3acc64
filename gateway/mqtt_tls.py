"""TLS for the MQTT bridge: the client context, and a guard against a paho socket leak."""

from __future__ import annotations

import ssl

from gateway.mqtt_settings import MqttSettings

__all__ = ["tls_context"]


def tls_context(settings: MqttSettings) -> ssl.SSLContext:
    """A client context verifying the broker against ``settings.tls.ca_file`` (or the system
    store) and presenting the client certificate when one is configured. Reads files."""
    tls = settings.tls
    assert tls is not None
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca_file) if tls.ca_file else None
    )
    if tls.cert_file is not None:
        context.load_cert_chain(
            str(tls.cert_file), str(tls.key_file) if tls.key_file is not None else None
        )
    if tls.insecure:
        context.check_hostname = False
    context.sslsocket_class = _HandshakeClosingSocket
    return context


class _HandshakeClosingSocket(ssl.SSLSocket):
    """paho 2.2 leaks the socket when the TLS handshake fails (``_ssl_wrap_socket`` raises
    without closing it): one file descriptor per failed attempt, for as long as the bridge
    retries. This socket closes itself when its handshake fails."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise
