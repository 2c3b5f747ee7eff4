"""A private broker with a SASL/SCRAM-over-TLS listener, certificates made here (never the
shared stack's broker: that one stays plaintext for everyone else's tests)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from payhooks_devtools.chaos.private_stack import free_port_run
from payhooks_devtools.stack import default_cache_dir
from payhooks_devtools.stack.native import NativeKafka, SecureListener

USER, PASSWORD = "payhooks-app", "scram-secret-Zx9"
MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class SecureBroker:
    plain_bootstrap: str  # for the test's own set-up only
    secure_bootstrap: str  # SASL_SSL
    ca: Path
    log: Path  # the broker's log (its authentication failures are counted there)

    def java_properties(self, password: str = PASSWORD) -> str:
        """A client properties file as the Java client (and MSK's SCRAM guide) writes it."""
        return (
            f"bootstrap.servers={self.secure_bootstrap}\n"
            "security.protocol=SASL_SSL\n"
            f"sasl.mechanism={MECHANISM}\n"
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{USER}" password="{password}";\n'
            "ssl.truststore.type=PEM\n"
            f"ssl.truststore.location={self.ca}\n"
        )


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_certificates(folder: Path) -> tuple[Path, Path]:
    """A CA (ca.pem) and a server key + certificate for 127.0.0.1 / localhost (server.pem)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("payhooks test CA"))
        .issuer_name(_name("payhooks test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem, server_pem = folder / "ca.pem", folder / "server.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_pem.write_bytes(
        _pem_key(key)
        + server.public_bytes(serialization.Encoding.PEM)
        + ca.public_bytes(serialization.Encoding.PEM)
    )
    return ca_pem, server_pem


@contextmanager
def secure_broker(folder: Path) -> Iterator[SecureBroker]:
    """One KRaft broker on free ports: plaintext, its controller, and SASL_SSL (SCRAM)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, keystore = make_certificates(folder)
    port = free_port_run(3)  # plaintext, controller, SASL_SSL
    listener = SecureListener(port=port + 2, keystore=keystore, users=((USER, PASSWORD),))
    kafka = NativeKafka(f"127.0.0.1:{port}", folder, default_cache_dir(), secure=listener)
    kafka.start(lambda _: None)
    try:
        yield SecureBroker(kafka.bootstrap, f"127.0.0.1:{port + 2}", ca, kafka.log)
    finally:
        kafka.stop()
