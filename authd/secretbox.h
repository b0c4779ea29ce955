/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encryption at rest for secrets authd must be able to read back (TOTP secrets):
 * AES-256-GCM under a 256-bit key-encryption key that authd reads from a file or the
 * environment, never from beside the data. A sealed box is nonce(12) || ciphertext || tag(16);
 * the associated data binds it to its owner (e.g. the user id), so a box copied onto another
 * record does not open.
 */
#ifndef AUTHD_SECRETBOX_H
#define AUTHD_SECRETBOX_H

#include <stddef.h>
#include <stdint.h>

#define SECRETBOX_KEY_BYTES 32
#define SECRETBOX_OVERHEAD (12 + 16)

struct secretbox;

/*
 * Parses a key given as 64 hex digits or 43 unpadded base64url characters (surrounding white
 * space ignored) into key. AUTHD_OK or AUTHD_ERR_INVALID_ARGUMENT.
 */
int secretbox_parse_key(const char *text, uint8_t key[SECRETBOX_KEY_BYTES]);

/* A box for key (copied; the copy is wiped by secretbox_free). AUTHD_OK or AUTHD_ERR_NOMEM. */
int secretbox_new(const uint8_t key[SECRETBOX_KEY_BYTES], struct secretbox **out);

/* Wipes the key and frees. NULL is a no-op. */
void secretbox_free(struct secretbox *sb);

/*
 * Seals n bytes of pt with a fresh random nonce. *out (malloc'd, *outlen = n +
 * SECRETBOX_OVERHEAD) belongs to the caller. Thread-safe. AUTHD_OK, AUTHD_ERR_NOMEM or
 * AUTHD_ERR_INTERNAL.
 */
int secretbox_seal(const struct secretbox *sb, const uint8_t *pt, size_t n, const uint8_t *aad,
                   size_t aadlen, uint8_t **out, size_t *outlen);

/*
 * Opens a sealed box. *pt (malloc'd; wipe with secret_freezero(*pt, *ptlen)) belongs to the
 * caller. AUTHD_OK, or AUTHD_ERR_INTERNAL when the box is malformed, was tampered with, or was
 * sealed under another key or other associated data.
 */
int secretbox_open(const struct secretbox *sb, const uint8_t *box, size_t n, const uint8_t *aad,
                   size_t aadlen, uint8_t **pt, size_t *ptlen);

#endif
