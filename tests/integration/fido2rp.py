# SPDX-License-Identifier: Apache-2.0
"""A relying party built on Debian's python3-fido2 0.9 (fido2.server.Fido2Server), which
nobody here wrote, taking the JSON responses softauthn (or a browser) produces.

fido2 0.9 predates the JSON forms, so this module decodes them into its types (ClientData,
AttestationObject, AuthenticatorData) and calls its API as 0.9 has it:
register_begin(user, challenge=...) -> (options, state), register_complete(state, client_data,
attestation_object); authenticate_begin(challenge=...) -> (options, state),
authenticate_complete(state, credentials, credential_id, client_data, auth_data, signature).
The state is whatever *_begin returned for the given challenge ({"challenge": websafe,
"user_verification": ...} in 0.9), so a ceremony can be begun with another server's challenge.

    rp = Fido2RP("example.com")                        # fido2's own origin rule (https, rpId)
    rp = Fido2RP("localhost", ["http://localhost:8443"])  # origins compared exactly
    rp.register(challenge, registration_json, user_verification="required")  # raises
    rp.authenticate(challenge, authentication_json)    # raises; credentials from register()
    ok, why = rp.verdict(rp.register, challenge, registration_json)

Attestation: the server asks for "direct" so fido2's own statement verifiers run (fido2.
attestation: NoneAttestation needs an empty statement, PackedAttestation checks self attestation
or, with x5c, the certificate's §8.2.1 requirements and its signature); formats other than
"none" and "packed" are refused, and an x5c chain is not checked against any root (as authd).

What fido2 0.9 does not check (a response hostile only in these ways passes here): the
signature counter, clientDataJSON.crossOrigin, BS without BE, id == rawId, the credential
id in authenticatorData == rawId, the algorithm against pubKeyCredParams (nor a COSE key's
kty: an unknown alg registers with fmt "none" and fails only on use), duplicate CBOR map keys
(its decoder keeps the last), the COSE key at registration unless a packed statement uses it.
"""
import json

from fido2.attestation import Attestation, UnsupportedType
from fido2.client import ClientData
from fido2.ctap2 import AttestationObject, AuthenticatorData
from fido2.server import Fido2Server
from fido2.webauthn import PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity

from softauthn import unb64u

FORMATS = ("none", "packed")


def _verify_attestation(attestation_object, client_data_hash):
    fmt = attestation_object.fmt
    if fmt not in FORMATS:
        raise UnsupportedType(attestation_object.auth_data, fmt)
    verifier = Attestation.for_type(fmt)()
    verifier.verify(attestation_object.att_statement, attestation_object.auth_data,
                    client_data_hash)


class Fido2RP:
    def __init__(self, rp_id, origins=None):
        kw = {}
        if origins is not None:
            allowed = list(origins)
            kw["verify_origin"] = lambda o: o in allowed
        self.server = Fido2Server(PublicKeyCredentialRpEntity(rp_id, rp_id),
                                  attestation="direct", verify_attestation=_verify_attestation,
                                  **kw)
        self.credentials = []  # AttestedCredentialData of every accepted registration

    def register(self, challenge, response_json, user_verification=None,
                 user_id=b"softauthn-user"):
        """register_complete on the response; returns fido2's AuthenticatorData."""
        _, state = self.server.register_begin(
            PublicKeyCredentialUserEntity(user_id, "user"), challenge=challenge,
            user_verification=user_verification)
        resp = json.loads(response_json)["response"]
        auth_data = self.server.register_complete(
            state, ClientData(unb64u(resp["clientDataJSON"])),
            AttestationObject(unb64u(resp["attestationObject"])))
        self.credentials.append(auth_data.credential_data)
        return auth_data

    def authenticate(self, challenge, response_json, user_verification=None, credentials=None):
        """authenticate_complete on the response against credentials (default: every one
        register() accepted); returns the credential fido2 matched (by rawId)."""
        _, state = self.server.authenticate_begin(challenge=challenge,
                                                  user_verification=user_verification)
        r = json.loads(response_json)
        resp = r["response"]
        return self.server.authenticate_complete(
            state, self.credentials if credentials is None else credentials,
            unb64u(r["rawId"]),
            ClientData(unb64u(resp["clientDataJSON"])),
            AuthenticatorData(unb64u(resp["authenticatorData"])), unb64u(resp["signature"]))

    @staticmethod
    def verdict(call, *args, **kwargs):
        """(True, None) when call accepts, (False, "<exception>") when fido2 refuses."""
        try:
            call(*args, **kwargs)
            return True, None
        except Exception as e:  # fido2 raises ValueError, InvalidData, struct.error, ...
            return False, f"{type(e).__name__}: {e}"
