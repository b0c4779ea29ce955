/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Browser origins a client registers for CORS (Client.allowed_origins) and authd's answer to
 * the edge's question "may this origin call the OAuth endpoints?" (OAuth.CheckOrigin). Origins
 * are stored as RFC 6454 serialises them (§6.1: lower-case scheme and host, the port only when
 * it is not the scheme's default), which is also what browsers send in Origin headers, so the
 * check is an exact comparison. Pure functions and a stateless handler: any thread.
 */
#ifndef AUTHD_ORIGINS_H
#define AUTHD_ORIGINS_H

#include <stddef.h>

#include "proto/rpc.h"

#define ORIGIN_MAX 255         /* bytes of a serialised origin */
#define ORIGINS_PER_CLIENT 32  /* Client.allowed_origins entries */
#define ORIGIN_ANSWER_TTL_S 30 /* CheckOriginResponse.max_age_s: how stale the edge may be */

/*
 * Writes the RFC 6454 serialisation of the origin in into out (cap >= ORIGIN_MAX + 1):
 * "HTTPS://App.Example.com:443" gives "https://app.example.com", "http://[::FFFF:1:2]:8080"
 * gives "http://[::ffff:0.1.0.2]:8080". Accepted: http or https, a DNS name (ASCII: IDNs in
 * their xn-- form), an IPv4 address or a bracketed IPv6 one, an optional port 1..65535, and
 * nothing after it (no path, not even "/", no query, no user). NULL on success, else why not
 * (a constant English phrase for an error message).
 */
const char *origin_normalise(const char *in, char *out, size_t cap);

/*
 * OAuth.CheckOrigin (role edge): allowed when some active client lists req.origin, byte for
 * byte, in allowed_origins; max_age_s says how long the answer may be kept. A scan of the
 * clients (there are few, and the edge caches both answers).
 */
int oauth_check_origin(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm);

#endif
