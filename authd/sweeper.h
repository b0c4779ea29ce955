/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sweeper deletes records that can no longer be used: expired sessions (with their index
 * entries), expired signup and reset tokens, and brute-force counters that are neither locked
 * nor inside their window. Expired records are already refused when read; sweeping only bounds
 * the store's size. Every authd replica sharing a store may sweep it at once: a record is
 * deleted only after it was read again under its row lock and found still expired. A background
 * thread runs a sweep at start and then every interval.
 */
#ifndef AUTHD_SWEEPER_H
#define AUTHD_SWEEPER_H

#include <stdint.h>

#include "authd/authd.h"

struct sweeper;

/* Counts of what one sweep deleted. */
struct sweep_stats {
    uint64_t sessions;
    uint64_t tokens;
    uint64_t counters;
};

/*
 * Tests only (NULL otherwise): called between the scan of a batch that found expired records and
 * its deletes, where a test plays another replica renewing one of them. Set it while no sweep
 * runs.
 */
extern void (*sweeper_between_hook)(struct authd *a);

/* Runs one sweep now, on the calling thread. AUTHD_OK or a storage error; st may be NULL. */
int sweeper_run_once(struct authd *a, struct sweep_stats *st);

/* Starts the background thread (interval in seconds, > 0). AUTHD_OK or AUTHD_ERR_NOMEM. */
int sweeper_start(struct authd *a, int64_t interval, struct sweeper **out);

/* Stops and joins the thread (a sweep in progress finishes first). NULL is a no-op. */
void sweeper_stop(struct sweeper *sw);

#endif
