/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: authenticatorData (authd/webauthn.h webauthn_authdata_parse) and the COSE
 * key it finds (webauthn_cose_check); the whole input is also given to webauthn_cose_check as
 * a key on its own. Besides never crashing: an accepted authenticatorData is split exactly as
 * §6.1 lays it out, its parts inside the input and, without extensions, ending it.
 * Seeds (tests/fuzz/corpus/webauthn_authdata) come from tests/fuzz/webauthn_seeds.py.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "authd/webauthn.h"

static void
check_cose(const uint8_t *p, size_t n)
{
    int32_t alg = 1;
    size_t used = 0;
    const char *why = NULL;
    int rc = webauthn_cose_check(p, n, &alg, NULL, &why);
    if (rc == WEBAUTHN_OK) {
        if (alg != WEBAUTHN_ALG_ES256 && alg != WEBAUTHN_ALG_EDDSA && alg != WEBAUTHN_ALG_RS256)
            abort();
        /* With used: the same verdict, and the key fills what was given. */
        if (webauthn_cose_check(p, n, &alg, &used, &why) != WEBAUTHN_OK || used != n)
            abort();
        return;
    }
    if (why == NULL || alg != 0 ||
        (rc != WEBAUTHN_MALFORMED && rc != WEBAUTHN_UNSUPPORTED && rc != WEBAUTHN_NOMEM))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct webauthn_authdata ad;
    const char *why = NULL;
    int rc = webauthn_authdata_parse(data, size, &ad, &why);
    if (rc == WEBAUTHN_OK) {
        if (size < 37 || ad.rp_id_hash != data || ad.flags != data[32] ||
            ad.sign_count != (((uint32_t)data[33] << 24) | ((uint32_t)data[34] << 16) |
                              ((uint32_t)data[35] << 8) | data[36]))
            abort();
        size_t end = 37;
        if (ad.flags & WEBAUTHN_FLAG_AT) {
            if (ad.aaguid != data + 37 || ad.cred_id != data + 55 || ad.cred_id_len == 0 ||
                ad.cred_id_len > WEBAUTHN_CRED_ID_MAX ||
                ad.cred_id_len != (((size_t)data[53] << 8) | data[54]) ||
                ad.cose_key != ad.cred_id + ad.cred_id_len || ad.cose_key_len == 0 ||
                ad.cose_key_len > size - (size_t)(ad.cose_key - data))
                abort();
            end = (size_t)(ad.cose_key - data) + ad.cose_key_len;
            check_cose(ad.cose_key, ad.cose_key_len);
        } else if (ad.aaguid != NULL || ad.cred_id != NULL || ad.cose_key != NULL) {
            abort();
        }
        if (!(ad.flags & WEBAUTHN_FLAG_ED) && end != size)
            abort();
        if ((ad.flags & WEBAUTHN_FLAG_ED) && end >= size)
            abort();
    } else if ((rc != WEBAUTHN_MALFORMED && rc != WEBAUTHN_NOMEM) || why == NULL ||
               ad.rp_id_hash != NULL) {
        abort();
    }
    check_cose(data, size);
    return 0;
}
