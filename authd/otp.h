/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238) on OpenSSL HMAC (SHA1, SHA256,
 * SHA512; 6 to 8 digits), base32 (RFC 4648, no padding) for secrets, and otpauth:// URIs for
 * authenticator apps. The verifier checks a window of steps, refuses any step not newer than the
 * last accepted one (RFC 6238 §5.2), and compares every candidate in constant time without
 * stopping at the first match.
 */
#ifndef AUTHD_OTP_H
#define AUTHD_OTP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define OTP_SECRET_BYTES 20 /* 160-bit secrets, as RFC 4226 recommends */
#define OTP_MAX_DIGITS 8
#define OTP_MIN_DIGITS 6

enum otp_alg { OTP_SHA1 = 0, OTP_SHA256 = 1, OTP_SHA512 = 2 };

struct otp_params {
    enum otp_alg alg;
    unsigned digits; /* 6..8 */
    unsigned period; /* seconds per step, > 0 */
};

/* SHA1, 6 digits, 30 s. */
void otp_params_default(struct otp_params *p);

/* "SHA1"/"SHA256"/"SHA512" (case-insensitive; "" gives SHA1) into *out: 0, or -1 when unknown. */
int otp_alg_parse(const char *s, enum otp_alg *out);

/* "SHA1", "SHA256" or "SHA512". */
const char *otp_alg_name(enum otp_alg alg);

/*
 * The HOTP value for counter, as digits decimal characters plus NUL in out (at least
 * OTP_MAX_DIGITS + 1 bytes). AUTHD_OK, AUTHD_ERR_INVALID_ARGUMENT (digits out of range, empty
 * key) or AUTHD_ERR_INTERNAL.
 */
int otp_hotp(const uint8_t *key, size_t klen, enum otp_alg alg, uint64_t counter, unsigned digits,
             char *out);

/* The time step of unix time t under p (floor(t / period); negative t gives step 0). */
int64_t otp_step(const struct otp_params *p, int64_t t);

/* The TOTP value at unix time t. Same results as otp_hotp. */
int otp_totp(const uint8_t *key, size_t klen, const struct otp_params *p, int64_t t, char *out);

/*
 * Verifies code at unix time now: accepted steps are cur - past .. cur + future (cur =
 * otp_step(now)), and only those strictly newer than last_step. The code must be exactly
 * p->digits ASCII digits. Every candidate step is computed and compared in constant time.
 * AUTHD_OK with *matched the accepted step, or AUTHD_ERR_WRONG_CODE (wrong, malformed, outside
 * the window, or replayed), or AUTHD_ERR_INTERNAL.
 */
int otp_verify(const uint8_t *key, size_t klen, const struct otp_params *p, int64_t now,
               unsigned past, unsigned future, int64_t last_step, const char *code,
               int64_t *matched);

/* Length of the unpadded base32 text of n bytes, without the NUL. */
size_t otp_base32_len(size_t n);

/* Writes unpadded upper-case base32 of in[0..n) plus NUL into out (otp_base32_len(n) + 1). */
void otp_base32_encode(const uint8_t *in, size_t n, char *out);

/*
 * Decodes base32 text (case-insensitive; spaces and '=' padding ignored) into out (capacity
 * cap). Returns the number of bytes, or -1 on a bad character, non-zero trailing bits, or when
 * cap is too small.
 */
long otp_base32_decode(const char *s, uint8_t *out, size_t cap);

/*
 * Appends otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer} to b, label and
 * parameters percent-encoded; algorithm, digits and period are added when not the defaults.
 */
int otp_uri(struct buf *b, const char *issuer, const char *account, const char *secret_b32,
            const struct otp_params *p);

#endif
