#include "net/net_loop.h"

static void settle_timeout(struct ev_loop *loop, ev_timer *w, int revents) { ev_break(loop, EVBREAK_ALL); }

void net_loop_settle(struct ev_loop *loop, double max_seconds)
{
    ev_timer guard;
    ev_timer_init(&guard, settle_timeout, max_seconds, 0);
    ev_timer_start(loop, &guard);
    /* The guard must not keep the loop alive by itself: ev_run returns as
     * soon as only it is left, or breaks when it fires. */
    ev_unref(loop);
    ev_run(loop, 0);
    ev_ref(loop);
    ev_timer_stop(loop, &guard);
}
