/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's shared state and the table of services it serves (see authd.h). */
#include <time.h>

#include "authd.h"
#include "authd/v1/admin.pb-c.h"
#include "authd/v1/sessions.pb-c.h"
#include "authd/v1/signup.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "err.h"
#include "grpc/health/v1/health.pb-c.h"
#include "keys.h"
#include "records.h"
#include "storage/records.pb-c.h"

static int64_t
clock_now(void)
{
    return (int64_t)time(NULL);
}

void
authd_settings_default(struct authd_settings *s)
{
    password_params_default(&s->argon2);
    s->session_ttl = 12 * 3600;
    s->signup_ttl = 24 * 3600;
    s->reset_ttl = 3600;
}

int
authd_init(struct authd *a, struct store *st, const struct authd_settings *s)
{
    Authd__Storage__ConfigRecord *rec = NULL;
    a->store = st;
    a->set = *s;
    a->now = clock_now;
    a->asid_max_age = 0;
    pthread_mutex_init(&a->cfg_lock, NULL);
    int r = rec_get(st, NULL, 0, KEY_CONFIG, &authd__storage__config_record__descriptor,
                    (ProtobufCMessage **)&rec);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_OK;
    if (r != AUTHD_OK) {
        pthread_mutex_destroy(&a->cfg_lock);
        return r;
    }
    if (rec->auth_config != NULL)
        a->asid_max_age = rec->auth_config->asid_cookie_max_age;
    rpc_msg_free(&rec->base);
    return AUTHD_OK;
}

void
authd_cleanup(struct authd *a)
{
    pthread_mutex_destroy(&a->cfg_lock);
}

int64_t
authd_session_ttl(struct authd *a)
{
    pthread_mutex_lock(&a->cfg_lock);
    int64_t age = a->asid_max_age;
    pthread_mutex_unlock(&a->cfg_lock);
    /* The server-side lifetime follows the cookie's when one is configured. */
    return age > 0 ? age : a->set.session_ttl;
}

size_t
authd_services(struct authd *a, struct rpc_service *svcs, size_t cap)
{
    const struct rpc_service all[] = {
        {&authd__v1__users__descriptor, authd_users_methods, authd_users_n_methods, a},
        {&authd__v1__sessions__descriptor, authd_sessions_methods, authd_sessions_n_methods, a},
        {&authd__v1__signup__descriptor, authd_signup_methods, authd_signup_n_methods, a},
        {&authd__v1__password_reset__descriptor, authd_reset_methods, authd_reset_n_methods, a},
        {&authd__v1__admin__descriptor, authd_admin_methods, authd_admin_n_methods, a},
        {&grpc__health__v1__health__descriptor, authd_health_methods, authd_health_n_methods, a},
    };
    size_t n = sizeof(all) / sizeof(all[0]);
    if (n > cap)
        n = cap;
    for (size_t i = 0; i < n; i++)
        svcs[i] = all[i];
    return n;
}
