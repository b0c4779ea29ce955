# SPDX-License-Identifier: Apache-2.0
"""A software WebAuthn authenticator and client (the browser's part) for tests.

It takes the JSON a relying party gives the browser (PublicKeyCredentialCreationOptionsJSON,
PublicKeyCredentialRequestOptionsJSON: WebAuthn L3 §5.1.3, §5.1.5) and answers with what
PublicKeyCredential.toJSON() produces (RegistrationResponseJSON, AuthenticationResponseJSON),
binary values as base64url without padding. Keys and signatures come from the `cryptography`
package; CBOR is encoded with fido2.cbor (Debian's python3-fido2, canonical CTAP2 order), and
malformed CBOR is built by hand below.

    auth = SoftAuthenticator(alg=-7)            # -7 ES256, -8 EdDSA, -257 RS256;
                                                # hostile: -35 ES384, -37 PS256 (authd refuses)
    reg = auth.create(options_json, "https://example.com", fmt="none")   # or fmt="packed"
    res = auth.get(request_options_json, "https://example.com")

SoftAuthenticator(alg=-7, backup_eligible=False, backup_state=None, uv=True, resident=True,
                  aaguid=bytes(16), attachment=None, transports=None)
    backup_eligible: the BE flag (a synced passkey); backup_state (BS) defaults to it.
    uv: the UV flag the authenticator sets. resident: it can keep discoverable credentials.
    attachment/transports: what the client reports; default "platform"/["internal", "hybrid"]
    when backup_eligible, else "cross-platform"/["usb"].

.create(options_json, origin, fmt="none", **knobs) -> str
    Makes a credential for options.rp.id (the origin's host when absent) and options.user.
    Like a real authenticator it refuses (SoftAuthnError) when its algorithm is not in
    pubKeyCredParams or when excludeCredentials names one of its credentials (knob
    strict=False skips both). The credential is discoverable when the authenticator is
    resident and residentKey is not "discouraged" (requireResidentKey true counts as
    "required"); clientExtensionResults.credProps.rk says so.
    fmt: "none" (empty attStmt), "packed" (self attestation: attStmt {alg, sig} signed by the
    credential key), "packed-x5c" (basic attestation with a fresh self-signed ES256 attestation
    certificate meeting §8.2.1), or any other string (attStmt {}: an unknown format).
.get(options_json, origin, **knobs) -> str
    Picks the newest of its credentials for options.rpId that allowCredentials names, or,
    with an empty allowCredentials, the newest discoverable one (SoftAuthnError when none;
    knob credential=<id bytes> chooses one explicitly, also one the list does not name).
    The counter of the credential increments by one per assertion (registration reports the
    current value, 0 for a new credential). userHandle is sent for discoverable credentials.

Knobs (keyword arguments of create and get) for hostile responses; each one changes what is
then signed, so the response is otherwise valid:
    rp_id="evil.example"   rpIdHash of another domain (the client data still names origin)
    challenge=b"..."       a challenge other than the options' (replay: resend an old response)
    type="webauthn.get"    clientDataJSON.type (the wrong ceremony)
    cross_origin=True      clientDataJSON.crossOrigin (and topOrigin "https://top.example")
    client_data={k: v}     set (or, with None, delete) members of clientDataJSON
    up=False, uv=False     flags UP / UV (default: set / the authenticator's uv)
    be=..., bs=...         flags BE / BS (bs=True, be=False: backed up but not eligible)
    counter=n              the signature counter of this response (and from now on)
    cred_id=b"..."         (create) the credential id to use (default 32 random bytes)
    user_handle=b"..."     (get) the userHandle to send (b"" omits it)
    cose={label: value}    (create) change COSE key members (None deletes); e.g. {3: -8} on an
                           ES256 key: alg and kty disagree
    cose_raw=f             (create) f(encoded COSE key bytes) -> bytes, e.g. cose_dup_label
    extensions={...}       authenticator extension outputs (sets ED, appended CBOR map)
    strict=False           skip the checks a real authenticator makes (see create/get)

Post-processing helpers (take and return a response JSON string; they break what is signed,
which is the point): tamper_signature, tamper_auth_data, truncate_attestation, trailing_bytes,
duplicate_key, mismatch_id, set_member. decode_response(json) -> dict of the decoded parts.
SoftAuthenticator.set_counter(cred_id, n) sets a stored counter (a cloned key's regression).
"""
import base64
import datetime
import hashlib
import json
import os
import struct
from urllib.parse import urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID
from fido2 import cbor

ES256, EDDSA, RS256, ES384, PS256 = -7, -8, -257, -35, -37
ALGS = (ES256, EDDSA, RS256)
FLAG_UP, FLAG_UV, FLAG_BE, FLAG_BS, FLAG_AT, FLAG_ED = 0x01, 0x04, 0x08, 0x10, 0x40, 0x80
OID_FIDO_AAGUID = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")


class SoftAuthnError(Exception):
    """What a real authenticator or browser would refuse to do (NotAllowedError etc.)."""


def b64u(data):
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode()


def unb64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha256(data):
    return hashlib.sha256(data).digest()


class Credential:
    """One key pair the authenticator holds."""

    def __init__(self, cred_id, rp_id, user_handle, alg, resident):
        self.id = cred_id
        self.rp_id = rp_id
        self.user_handle = user_handle
        self.alg = alg
        self.resident = resident
        self.counter = 0
        if alg in (ES256,):
            self.key = ec.generate_private_key(ec.SECP256R1())
        elif alg == ES384:
            self.key = ec.generate_private_key(ec.SECP384R1())
        elif alg == EDDSA:
            self.key = ed25519.Ed25519PrivateKey.generate()
        elif alg in (RS256, PS256):
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(f"softauthn: no key for alg {alg}")

    def cose_key(self):
        """The COSE_Key map (RFC 9052/9053) of the public key."""
        pub = self.key.public_key()
        if self.alg in (ES256, ES384):
            n = pub.public_numbers()
            size = 32 if self.alg == ES256 else 48
            return {1: 2, 3: self.alg, -1: 1 if self.alg == ES256 else 2,
                    -2: n.x.to_bytes(size, "big"), -3: n.y.to_bytes(size, "big")}
        if self.alg == EDDSA:
            raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return {1: 1, 3: EDDSA, -1: 6, -2: raw}
        n = pub.public_numbers()
        return {1: 3, 3: self.alg, -1: n.n.to_bytes((n.n.bit_length() + 7) // 8, "big"),
                -2: n.e.to_bytes((n.e.bit_length() + 7) // 8, "big")}

    def spki(self):
        return self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, message):
        return sign_with(self.key, self.alg, message)


def sign_with(key, alg, message):
    if alg == ES256:
        return key.sign(message, ec.ECDSA(hashes.SHA256()))
    if alg == ES384:
        return key.sign(message, ec.ECDSA(hashes.SHA384()))
    if alg == EDDSA:
        return key.sign(message)
    if alg == RS256:
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    if alg == PS256:
        return key.sign(message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                             salt_length=32), hashes.SHA256())
    raise ValueError(f"softauthn: cannot sign with alg {alg}")


def _client_data(kind, challenge, origin, knobs):
    cd = {"type": knobs.get("type", kind), "challenge": b64u(challenge), "origin": origin,
          "crossOrigin": bool(knobs.get("cross_origin", False))}
    if cd["crossOrigin"]:
        cd["topOrigin"] = "https://top.example"
    for k, v in (knobs.get("client_data") or {}).items():
        if v is None:
            cd.pop(k, None)
        else:
            cd[k] = v
    return json.dumps(cd, separators=(",", ":")).encode()


def _flags(auth, knobs, at, ed):
    flags = 0
    if knobs.get("up", True):
        flags |= FLAG_UP
    if knobs.get("uv", auth.uv):
        flags |= FLAG_UV
    be = knobs.get("be", auth.backup_eligible)
    bs = knobs.get("bs", auth.backup_state)
    if be:
        flags |= FLAG_BE
    if bs:
        flags |= FLAG_BS
    if at:
        flags |= FLAG_AT
    if ed:
        flags |= FLAG_ED
    return flags


def _rp_id(options_rp_id, origin):
    return options_rp_id or urlparse(origin).hostname


def attestation_cert(key, aaguid, alg=ES256):
    """A self-signed packed attestation certificate meeting WebAuthn §8.2.1 (version 3, C, O,
    OU "Authenticator Attestation", CN, basic constraints CA false, the AAGUID extension)."""
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "softauthn"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                                         "Authenticator Attestation"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "softauthn attestation")])
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=365))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.UnrecognizedExtension(OID_FIDO_AAGUID, b"\x04\x10" + aaguid),
                        critical=False))
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


class SoftAuthenticator:
    def __init__(self, alg=ES256, backup_eligible=False, backup_state=None, uv=True,
                 resident=True, aaguid=bytes(16), attachment=None, transports=None):
        self.alg = alg
        self.backup_eligible = bool(backup_eligible)
        self.backup_state = self.backup_eligible if backup_state is None else bool(backup_state)
        self.uv = bool(uv)
        self.resident = bool(resident)
        self.aaguid = bytes(aaguid)
        assert len(self.aaguid) == 16
        self.attachment = attachment or ("platform" if self.backup_eligible else "cross-platform")
        self.transports = list(transports if transports is not None else
                               (["hybrid", "internal"] if self.backup_eligible else ["usb"]))
        self.credentials = []  # oldest first

    def credential(self, cred_id):
        for c in self.credentials:
            if c.id == cred_id:
                return c
        raise KeyError(cred_id)

    def set_counter(self, cred_id, n):
        self.credential(cred_id).counter = n

    def create(self, options_json, origin, fmt="none", **knobs):
        opts = json.loads(options_json)
        opts = opts.get("publicKey", opts)
        strict = knobs.get("strict", True)
        rp_id = _rp_id(opts.get("rp", {}).get("id"), origin)
        user_handle = unb64u(opts["user"]["id"])
        challenge = knobs.get("challenge", unb64u(opts["challenge"]))
        params = [p.get("alg") for p in opts.get("pubKeyCredParams", [])
                  if p.get("type") == "public-key"]
        if strict and params and self.alg not in params:
            raise SoftAuthnError(f"alg {self.alg} not in pubKeyCredParams {params}")
        excluded = {unb64u(d["id"]) for d in opts.get("excludeCredentials") or []}
        if strict and any(c.id in excluded and c.rp_id == rp_id for c in self.credentials):
            raise SoftAuthnError("a credential of this authenticator is excluded")
        sel = opts.get("authenticatorSelection") or {}
        rk_wanted = sel.get("residentKey") or (
            "required" if sel.get("requireResidentKey") else "discouraged")
        if strict and rk_wanted == "required" and not self.resident:
            raise SoftAuthnError("residentKey required, the authenticator cannot")
        resident = self.resident and rk_wanted != "discouraged"

        cred_id = knobs.get("cred_id") or os.urandom(32)
        cred = Credential(cred_id, rp_id, user_handle, self.alg, resident)
        if "counter" in knobs:
            cred.counter = knobs["counter"]
        cose = cred.cose_key()
        for k, v in (knobs.get("cose") or {}).items():
            if v is None:
                cose.pop(k, None)
            else:
                cose[k] = v
        cose_bytes = cbor.encode(cose)
        if knobs.get("cose_raw"):
            cose_bytes = knobs["cose_raw"](cose_bytes)
        attested = self.aaguid + struct.pack(">H", len(cred_id)) + cred_id + cose_bytes
        ext = knobs.get("extensions")
        auth_data = (sha256(knobs.get("rp_id", rp_id).encode())
                     + struct.pack(">BI", _flags(self, knobs, True, ext is not None),
                                   cred.counter)
                     + attested + (cbor.encode(ext) if ext is not None else b""))
        client_data = _client_data("webauthn.create", challenge, origin, knobs)
        signed = auth_data + sha256(client_data)
        if fmt == "packed":
            att_stmt = {"alg": self.alg, "sig": cred.sign(signed)}
        elif fmt == "packed-x5c":
            akey = ec.generate_private_key(ec.SECP256R1())
            att_stmt = {"alg": ES256, "sig": sign_with(akey, ES256, signed),
                        "x5c": [attestation_cert(akey, self.aaguid)]}
            fmt = "packed"
        else:
            att_stmt = {}
        att_obj = cbor.encode({"fmt": fmt, "attStmt": att_stmt, "authData": auth_data})
        self.credentials.append(cred)
        resp = {
            "id": b64u(cred_id),
            "rawId": b64u(cred_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64u(client_data),
                "attestationObject": b64u(att_obj),
                "authenticatorData": b64u(auth_data),
                "transports": list(self.transports),
                "publicKeyAlgorithm": self.alg,
            },
            "authenticatorAttachment": self.attachment,
            "clientExtensionResults": {"credProps": {"rk": resident}},
        }
        if self.alg in ALGS:
            resp["response"]["publicKey"] = b64u(cred.spki())
        return json.dumps(resp)

    def get(self, options_json, origin, **knobs):
        opts = json.loads(options_json)
        opts = opts.get("publicKey", opts)
        rp_id = _rp_id(opts.get("rpId"), origin)
        challenge = knobs.get("challenge", unb64u(opts["challenge"]))
        allowed = [unb64u(d["id"]) for d in opts.get("allowCredentials") or []]
        if "credential" in knobs:
            cred = self.credential(knobs["credential"])
        else:
            cands = [c for c in self.credentials if c.rp_id == rp_id
                     and (c.id in allowed if allowed else c.resident)]
            if not cands:
                raise SoftAuthnError(f"no credential for {rp_id}")
            cred = cands[-1]
        cred.counter = knobs["counter"] if "counter" in knobs else cred.counter + 1
        ext = knobs.get("extensions")
        auth_data = (sha256(knobs.get("rp_id", rp_id).encode())
                     + struct.pack(">BI", _flags(self, knobs, False, ext is not None),
                                   cred.counter)
                     + (cbor.encode(ext) if ext is not None else b""))
        client_data = _client_data("webauthn.get", challenge, origin, knobs)
        sig = cred.sign(auth_data + sha256(client_data))
        resp = {
            "id": b64u(cred.id),
            "rawId": b64u(cred.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64u(client_data),
                "authenticatorData": b64u(auth_data),
                "signature": b64u(sig),
            },
            "authenticatorAttachment": self.attachment,
            "clientExtensionResults": {},
        }
        handle = knobs.get("user_handle", cred.user_handle if cred.resident else b"")
        if handle:
            resp["response"]["userHandle"] = b64u(handle)
        return json.dumps(resp)


# ---- decoding and post-processing ----

def parse_auth_data(ad):
    """authenticatorData split into a dict (rp_id_hash, flags, counter, and with AT aaguid,
    cred_id, cose (raw bytes of the COSE key) and cose_map)."""
    out = {"rp_id_hash": ad[:32], "flags": ad[32], "counter": struct.unpack(">I", ad[33:37])[0]}
    if ad[32] & FLAG_AT:
        n = struct.unpack(">H", ad[53:55])[0]
        out["aaguid"] = ad[37:53]
        out["cred_id"] = ad[55:55 + n]
        cose_map, rest = cbor.decode_from(ad[55 + n:])
        out["cose_map"] = cose_map
        out["cose"] = ad[55 + n:len(ad) - len(rest)]
    return out


def decode_response(resp_json):
    """The parts of a response, decoded: client_data (dict), client_data_raw, auth_data (bytes),
    auth (parse_auth_data), and att_obj (dict) / signature / user_handle as present."""
    r = json.loads(resp_json)
    resp = r["response"]
    out = {"id": r["id"], "raw_id": unb64u(r["rawId"]),
           "client_data_raw": unb64u(resp["clientDataJSON"])}
    out["client_data"] = json.loads(out["client_data_raw"])
    if "attestationObject" in resp:
        out["att_obj_raw"] = unb64u(resp["attestationObject"])
        out["att_obj"] = cbor.decode(out["att_obj_raw"])
        out["auth_data"] = out["att_obj"]["authData"]
    else:
        out["auth_data"] = unb64u(resp["authenticatorData"])
        out["signature"] = unb64u(resp["signature"])
        if resp.get("userHandle"):
            out["user_handle"] = unb64u(resp["userHandle"])
    out["auth"] = parse_auth_data(out["auth_data"])
    return out


def _edit(resp_json, f):
    r = json.loads(resp_json)
    f(r, r["response"])
    return json.dumps(r)


def _flip_last(b):
    b = bytearray(b)
    b[-1] ^= 0x01
    return bytes(b)


def _set_att_obj(resp, att_raw):
    resp["attestationObject"] = b64u(att_raw)


def tamper_signature(resp_json):
    """Flips a bit of the signature: an assertion's signature, or a registration's attStmt.sig
    (re-encoded; only meaningful for fmt "packed")."""
    def f(r, resp):
        if "signature" in resp:
            resp["signature"] = b64u(_flip_last(unb64u(resp["signature"])))
        else:
            att = cbor.decode(unb64u(resp["attestationObject"]))
            att["attStmt"]["sig"] = _flip_last(att["attStmt"]["sig"])
            _set_att_obj(resp, cbor.encode(att))
    return _edit(resp_json, f)


def tamper_auth_data(resp_json, offset=36):
    """Flips a bit of authenticatorData at offset (default: the low byte of the counter, which
    only a signature check notices); in a registration inside the attestation object too."""
    def f(r, resp):
        if "attestationObject" in resp:
            att = cbor.decode(unb64u(resp["attestationObject"]))
            ad = bytearray(att["authData"])
            ad[offset] ^= 0x01
            att["authData"] = bytes(ad)
            _set_att_obj(resp, cbor.encode(att))
            resp["authenticatorData"] = b64u(ad)
        else:
            ad = bytearray(unb64u(resp["authenticatorData"]))
            ad[offset] ^= 0x01
            resp["authenticatorData"] = b64u(ad)
    return _edit(resp_json, f)


def truncate_attestation(resp_json, n=1):
    """Cuts the last n bytes off the attestation object (or an assertion's authenticatorData)."""
    def f(r, resp):
        key = "attestationObject" if "attestationObject" in resp else "authenticatorData"
        resp[key] = b64u(unb64u(resp[key])[:-n])
    return _edit(resp_json, f)


def trailing_bytes(resp_json, extra=b"\x00"):
    """Appends bytes after the attestation object's CBOR map (or to authenticatorData)."""
    def f(r, resp):
        key = "attestationObject" if "attestationObject" in resp else "authenticatorData"
        resp[key] = b64u(unb64u(resp[key]) + extra)
    return _edit(resp_json, f)


def cbor_map_raw(pairs):
    """A CBOR map from (key, value) pairs in this order, duplicates kept (not canonical)."""
    return (cbor.dump_int(len(pairs), mt=5)
            + b"".join(cbor.encode(k) + cbor.encode(v) for k, v in pairs))


def duplicate_key(resp_json, key="fmt"):
    """Re-encodes the attestation object with `key` twice (same value both times)."""
    def f(r, resp):
        att = cbor.decode(unb64u(resp["attestationObject"]))
        pairs = [(k, att[k]) for k in ("fmt", "attStmt", "authData")] + [(key, att[key])]
        _set_att_obj(resp, cbor_map_raw(pairs))
    return _edit(resp_json, f)


def cose_dup_label(cose_bytes, label=3):
    """For the cose_raw knob: the COSE key with `label` appearing twice."""
    m = cbor.decode(cose_bytes)
    return cbor_map_raw(list(m.items()) + [(label, m[label])])


def mismatch_id(resp_json):
    """id names another credential than rawId."""
    def f(r, resp):
        r["id"] = b64u(_flip_last(unb64u(r["rawId"])))
    return _edit(resp_json, f)


def set_member(resp_json, path, value):
    """Sets (value None: deletes) a member by a dotted path, e.g. "response.userHandle"."""
    def f(r, resp):
        parts = path.split(".")
        obj = r
        for p in parts[:-1]:
            obj = obj[p]
        if value is None:
            obj.pop(parts[-1], None)
        else:
            obj[parts[-1]] = value
    return _edit(resp_json, f)


def creation_options(rp_id, challenge, user_id, name="user@example.com", algs=ALGS,
                     resident_key="preferred", user_verification="preferred",
                     exclude=(), attestation="none"):
    """PublicKeyCredentialCreationOptionsJSON as a relying party would send it (for tests that
    run the soft authenticator against a server without JSON options, such as fido2 0.9)."""
    return json.dumps({
        "rp": {"id": rp_id, "name": rp_id},
        "user": {"id": b64u(user_id), "name": name, "displayName": name},
        "challenge": b64u(challenge),
        "pubKeyCredParams": [{"type": "public-key", "alg": a} for a in algs],
        "timeout": 300000,
        "excludeCredentials": [{"type": "public-key", "id": b64u(c)} for c in exclude],
        "authenticatorSelection": {"residentKey": resident_key,
                                   "requireResidentKey": resident_key == "required",
                                   "userVerification": user_verification},
        "attestation": attestation,
        "extensions": {"credProps": True},
    })


def request_options(rp_id, challenge, allow=(), user_verification="preferred"):
    """PublicKeyCredentialRequestOptionsJSON (allow: credential ids; empty: discoverable)."""
    return json.dumps({
        "challenge": b64u(challenge),
        "timeout": 300000,
        "rpId": rp_id,
        "allowCredentials": [{"type": "public-key", "id": b64u(c)} for c in allow],
        "userVerification": user_verification,
    })
