/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What proto/rpc_server.c and proto/rpc_client.c share beyond the public contract (rpc.h):
 * packing a message into a byte buffer that wipes itself and the wipe of received bytes (the
 * check of an OAuth error code is in rpc_ctx.h, which this includes). Private to proto/:
 * includes gRPC.
 */
#ifndef AUTHD_PROTO_RPC_INTERNAL_H
#define AUTHD_PROTO_RPC_INTERNAL_H

#include <stddef.h>

#include <grpc/byte_buffer.h>
#include <protobuf-c/protobuf-c.h>

#include "proto/rpc_ctx.h"

/*
 * Packs msg into a new raw byte buffer (*out; destroy with grpc_byte_buffer_destroy) whose
 * bytes are wiped when gRPC drops its last reference: requests carry passwords, answers
 * session tokens. AUTHD_OK, AUTHD_ERR_NOMEM or AUTHD_ERR_INTERNAL (*out NULL).
 */
int rpc_pack(const ProtobufCMessage *msg, grpc_byte_buffer **out);

/*
 * Best-effort wipe of received message bytes (raw buffers only). They sit in the transport's
 * read buffers, plain heap memory no longer needed once the message was delivered. NULL is a
 * no-op.
 */
void rpc_bb_wipe(grpc_byte_buffer *bb);

#endif
