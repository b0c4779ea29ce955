# SPDX-License-Identifier: Apache-2.0
"""Certificates for the mutual-TLS tests.

make_certs(dir) runs deploy/dev-certs.sh (the development CA with authd, edge, authctl and
service certificates) and adds two client certificates that must be refused:

- rogue: the same identity as the edge (URI spiffe://authd.dev/edge, CN=edge) from a second,
  unrelated CA (deploy/dev-certs.sh run again elsewhere);
- expired: the edge's identity from the right CA, valid only in the past (python3-cryptography).
"""
import datetime
import os
import shutil
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEV_CERTS = os.path.join(REPO, "deploy", "dev-certs.sh")

EDGE_ID = "spiffe://authd.dev/edge"


class Certs:
    """Paths of the PEM files in dir: ca (ca.pem), and for each name in NAMES a certificate
    (<name>.pem) and a key (<name>.key)."""

    NAMES = ("authd", "edge", "authctl", "service", "rogue", "expired")

    def __init__(self, dir):
        self.dir = dir
        self.ca = os.path.join(dir, "ca.pem")
        self.ca_key = os.path.join(dir, "ca.key")

    def cert(self, name):
        return os.path.join(self.dir, name + ".pem")

    def key(self, name):
        return os.path.join(self.dir, name + ".key")

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()


def _write_key(path, key):
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _expired_client(certs, name):
    """A client certificate with the edge's identity from the right CA, expired yesterday."""
    with open(certs.ca_key, "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), password=None)
    with open(certs.ca, "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "authd development"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "edge")])
    cert = (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(EDGE_ID)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    with open(certs.cert(name), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(certs.key(name), key)


def client_cert(certs, name, cn, sans=()):
    """Writes <name>.pem/<name>.key: a client certificate from the right CA with subject CN=cn
    and the subject alternative names sans (cryptography GeneralName objects; none: no SAN
    extension at all), valid now."""
    with open(certs.ca_key, "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), password=None)
    with open(certs.ca, "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "authd development"),
                         x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (x509.CertificateBuilder()
         .subject_name(subject)
         .issuer_name(ca.subject)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                        critical=False))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    cert = b.sign(ca_key, hashes.SHA256())
    with open(certs.cert(name), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(certs.key(name), key)


def make_certs(dir):
    """Makes every certificate in dir (created if needed) and returns a Certs."""
    subprocess.run([DEV_CERTS, dir], check=True, stdout=subprocess.DEVNULL)
    certs = Certs(dir)
    # A second, unrelated CA: its "edge" certificate becomes the rogue one.
    other = os.path.join(dir, "other-ca")
    subprocess.run([DEV_CERTS, other], check=True, stdout=subprocess.DEVNULL)
    shutil.copyfile(os.path.join(other, "edge.pem"), certs.cert("rogue"))
    shutil.copyfile(os.path.join(other, "edge.key"), certs.key("rogue"))
    os.chmod(certs.key("rogue"), 0o600)
    _expired_client(certs, "expired")
    return certs
