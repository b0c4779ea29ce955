/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for edge/proxy.c: trusted networks, X-Forwarded-For / -Proto across field lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/proxy.h"
#include "common/err.h"

static struct proxy_trust
any_peer(unsigned hops)
{
    struct proxy_trust t;
    memset(&t, 0, sizeof(t));
    t.enabled = 1;
    t.any_peer = 1;
    t.hops = hops;
    return t;
}

/* The client address for lines, or "" when the lines name none (the peer is used). */
static const char *
pick(const struct proxy_trust *t, const char *const *lines, size_t n)
{
    static char out[64];
    if (!proxy_client_addr(t, lines, n, 0, out, sizeof(out)))
        out[0] = '\0';
    return out;
}

static void
test_one_line_takes_the_right_most(void **state)
{
    (void)state;
    struct proxy_trust t = any_peer(1);
    const char *one[] = {"198.51.100.7"};
    assert_string_equal(pick(&t, one, 1), "198.51.100.7");
    const char *list[] = {"203.0.113.5, 10.1.2.3,198.51.100.7"};
    assert_string_equal(pick(&t, list, 1), "198.51.100.7");
}

static void
test_repeated_lines_are_one_list(void **state)
{
    (void)state;
    struct proxy_trust t = any_peer(1);
    /* The client forged the first line; HAProxy's option forwardfor appended the second. */
    const char *two[] = {"203.0.113.5", "198.51.100.7"};
    assert_string_equal(pick(&t, two, 2), "198.51.100.7");
    const char *three[] = {"203.0.113.5, 203.0.113.6", "192.0.2.1", "198.51.100.7"};
    assert_string_equal(pick(&t, three, 3), "198.51.100.7");
    struct proxy_trust t2 = any_peer(2);
    assert_string_equal(pick(&t2, three, 3), "192.0.2.1");
    struct proxy_trust t3 = any_peer(3);
    assert_string_equal(pick(&t3, three, 3), "203.0.113.6");
}

static void
test_spaces_and_empty_elements(void **state)
{
    (void)state;
    struct proxy_trust t = any_peer(1);
    const char *a[] = {"  203.0.113.5 ,\t198.51.100.7 \t"};
    assert_string_equal(pick(&t, a, 1), "198.51.100.7");
    /* RFC 9110 §5.6.1: empty elements do not count. */
    const char *b[] = {"203.0.113.5, 198.51.100.7, , ", "   "};
    assert_string_equal(pick(&t, b, 2), "198.51.100.7");
    struct proxy_trust t2 = any_peer(2);
    assert_string_equal(pick(&t2, b, 2), "203.0.113.5");
    const char *none[] = {"", " , ,"};
    assert_string_equal(pick(&t, none, 2), "");
    assert_string_equal(pick(&t, NULL, 0), "");
}

static void
test_ipv6_and_ports(void **state)
{
    (void)state;
    struct proxy_trust t = any_peer(1);
    const char *a[] = {"203.0.113.5", "2001:DB8::1"};
    assert_string_equal(pick(&t, a, 2), "2001:db8::1");
    const char *b[] = {"[2001:db8::2]:4711"};
    assert_string_equal(pick(&t, b, 1), "2001:db8::2");
    const char *c[] = {"[2001:db8::3]"};
    assert_string_equal(pick(&t, c, 1), "2001:db8::3");
    const char *d[] = {"198.51.100.7:443"};
    assert_string_equal(pick(&t, d, 1), "198.51.100.7");
    const char *e[] = {"::ffff:198.51.100.8"};
    assert_string_equal(pick(&t, e, 1), "198.51.100.8");
}

static void
test_garbage_gives_no_address(void **state)
{
    (void)state;
    struct proxy_trust t = any_peer(1);
    const char *bad[] = {"unknown",   "example.com",      "198.51.100.7:",  "198.51.100.7:x",
                         "1.2.3.4.5", "[2001:db8::1",     "[198.51.100.7]", "2001:db8::1%eth0",
                         "999.1.1.1", "\"198.51.100.7\"", "[::1]:99999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *l[] = {"203.0.113.5", bad[i]};
        assert_string_equal(pick(&t, l, 2), "");
    }
    /* Garbage left of the trusted entry does not matter. */
    const char *ok[] = {"<script>, unknown,,", "198.51.100.7"};
    assert_string_equal(pick(&t, ok, 2), "198.51.100.7");
}

static void
test_fewer_entries_than_hops_takes_the_left_most(void **state)
{
    (void)state;
    struct proxy_trust t = any_peer(3);
    const char *l[] = {"198.51.100.7", "10.0.0.2"};
    assert_string_equal(pick(&t, l, 2), "198.51.100.7");
    /* Unless lines were dropped before them: those could hold the real entry. */
    char out[64];
    assert_int_equal(proxy_client_addr(&t, l, 2, 1, out, sizeof(out)), 0);
}

static void
test_too_many_entries(void **state)
{
    (void)state;
    /* 10,000 forged entries in one line, the proxy's last: still the proxy's, read from the
     * right without walking the rest. */
    size_t n = 10000;
    char *big = malloc(n * 16 + 32);
    assert_non_null(big);
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(big + len, 17, "10.%u.%u.%u, ", (unsigned)(i >> 16) & 255,
                                (unsigned)(i >> 8) & 255, (unsigned)i & 255);
    snprintf(big + len, 32, "198.51.100.7");
    struct proxy_trust t = any_peer(1);
    const char *l[] = {big};
    assert_string_equal(pick(&t, l, 1), "198.51.100.7");

    /* All of them in a trusted network: the walk stops after PROXY_WALK_MAX of them instead of
     * trusting the client's left-most entry. */
    assert_int_equal(proxy_nets_parse("10.0.0.0/8, 198.51.100.0/24", &t), AUTHD_OK);
    t.any_peer = 0;
    char out[64];
    assert_int_equal(proxy_client_addr(&t, l, 1, 0, out, sizeof(out)), 1);
    assert_string_not_equal(out, "10.0.0.0");
    free(big);
}

static void
test_trusted_networks(void **state)
{
    (void)state;
    struct proxy_trust t;
    memset(&t, 0, sizeof(t));
    t.enabled = 1;
    t.hops = 1;
    assert_int_equal(proxy_nets_parse("10.0.0.0/8, 192.168.1.7,fd00::/8", &t), AUTHD_OK);
    assert_int_equal(t.n_nets, 3);
    unsigned char a[16];
    assert_true(proxy_addr_parse("10.9.8.7", 8, a));
    assert_true(proxy_peer_trusted(&t, a));
    assert_true(proxy_addr_parse("11.0.0.1", 8, a));
    assert_false(proxy_peer_trusted(&t, a));
    assert_true(proxy_addr_parse("192.168.1.7", 11, a));
    assert_true(proxy_peer_trusted(&t, a));
    assert_true(proxy_addr_parse("192.168.1.8", 11, a));
    assert_false(proxy_peer_trusted(&t, a));
    assert_true(proxy_addr_parse("fd12::1", 7, a));
    assert_true(proxy_peer_trusted(&t, a));
    assert_false(proxy_peer_trusted(&t, NULL));
    /* Recursive: entries in trusted networks are proxies; their left neighbour is the client. */
    const char *l[] = {"203.0.113.5", "198.51.100.7, 10.0.0.3", "192.168.1.7"};
    assert_string_equal(pick(&t, l, 3), "198.51.100.7");
    /* Disabled: never trusted. */
    t.enabled = 0;
    assert_true(proxy_addr_parse("10.9.8.7", 8, a));
    assert_false(proxy_peer_trusted(&t, a));

    const char *bad[] = {"",
                         "   ",
                         "10.0.0.0/33",
                         "fd00::/129",
                         "10.0.0.0/",
                         "10.0.0.0/a",
                         "example.com",
                         "[fd00::]/8",
                         "10.0.0.1:80",
                         "10.0.0.0/8/8",
                         "10.0.0.0/0008"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(proxy_nets_parse(bad[i], &t), AUTHD_ERR_INVALID_ARGUMENT);
        assert_int_equal(t.n_nets, 0);
    }
    assert_int_equal(proxy_nets_parse("0.0.0.0/0", &t), AUTHD_OK);
    assert_true(proxy_addr_parse("203.0.113.9", 11, a));
    assert_true(proxy_in_nets(&t, a));
    assert_true(proxy_addr_parse("2001:db8::1", 11, a));
    assert_false(proxy_in_nets(&t, a)); /* an IPv4 network holds no IPv6 address */
}

static void
test_forwarded_proto(void **state)
{
    (void)state;
    struct proxy_trust t = any_peer(1);
    const char *a[] = {"http", "https"};
    assert_true(proxy_proto_https(&t, a, 2));
    const char *b[] = {"https", "http"}; /* the client's line first, the proxy's last */
    assert_false(proxy_proto_https(&t, b, 2));
    const char *c[] = {" HTTPS "};
    assert_true(proxy_proto_https(&t, c, 1));
    const char *d[] = {"httpsx"};
    assert_false(proxy_proto_https(&t, d, 1));
    assert_false(proxy_proto_https(&t, NULL, 0));
    struct proxy_trust t2 = any_peer(2);
    const char *e[] = {"https, http"};
    assert_true(proxy_proto_https(&t2, e, 1));
    const char *f[] = {"https"}; /* fewer entries than hops: the left-most */
    assert_true(proxy_proto_https(&t2, f, 1));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_line_takes_the_right_most),
        cmocka_unit_test(test_repeated_lines_are_one_list),
        cmocka_unit_test(test_spaces_and_empty_elements),
        cmocka_unit_test(test_ipv6_and_ports),
        cmocka_unit_test(test_garbage_gives_no_address),
        cmocka_unit_test(test_fewer_entries_than_hops_takes_the_left_most),
        cmocka_unit_test(test_too_many_entries),
        cmocka_unit_test(test_trusted_networks),
        cmocka_unit_test(test_forwarded_proto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
