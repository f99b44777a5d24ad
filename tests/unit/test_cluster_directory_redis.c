/*
 * cluster_directory against a real redis-server (STYLE.md 15): each test
 * starts its own server on a free loopback port (killed by PID in teardown,
 * and by PR_SET_PDEATHSIG if the test process dies first), drives the
 * directories on libev loops that never run unbounded (run_until polls a
 * condition with a 5 ms tick and a deadline), and checks Redis's state with a
 * synchronous hiredis context (test code only; the module never blocks).
 *
 * Short TTLs keep the whole file around 15 s: claim_ttl 600 ms, node_ttl
 * 1500 ms, heartbeat 100 ms unless a test says otherwise.
 */
#include <criterion/criterion.h>

#include "cluster/cluster_directory.h"
#include "core/log.h"
#include "core/status.h"

#include <arpa/inet.h>
#include <ev.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_DIRS 8

static pid_t redis_pid = -1;
static int redis_port;
static char redis_addr[64];
static char redis_bin[512];
static redisContext *rc; /* the test's own synchronous view of Redis */
static struct ev_loop *loop;
static struct cluster_directory *dirs[MAX_DIRS]; /* started, for teardown */
static struct ev_loop *dir_loops[MAX_DIRS];

/* ---- redis-server process ---- */

static int find_redis(void)
{
    const char *path = getenv("PATH");
    char dirs_buf[4096];
    snprintf(dirs_buf, sizeof(dirs_buf), "%s", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *dir = strtok_r(dirs_buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        snprintf(redis_bin, sizeof(redis_bin), "%s/redis-server", dir);
        if (access(redis_bin, X_OK) == 0)
            return 1;
    }
    return 0;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static redisContext *sync_connect(void)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, (struct timeval){2, 0});
    return c;
}

static void redis_start(void)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", redis_port);
    pid_t parent = getpid();
    redis_pid = fork();
    cr_assert(redis_pid >= 0);
    if (redis_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        if (getppid() != parent)
            _exit(1);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(redis_bin, "redis-server", "--save", "", "--appendonly", "no", "--port", port, "--bind", "127.0.0.1",
              "--dir", "/tmp", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 250; i++) { /* up to 5 s */
        redisContext *c = sync_connect();
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            if (ok) {
                if (rc)
                    redisFree(rc);
                rc = c;
                return;
            }
            redisFree(c);
        }
        int status;
        cr_assert_eq(waitpid(redis_pid, &status, WNOHANG), 0, "redis-server exited at start (port %d)", redis_port);
        usleep(20000);
    }
    cr_assert_fail("redis-server did not answer on port %d", redis_port);
}

static void redis_kill(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
        redis_pid = -1;
    }
    if (rc) {
        redisFree(rc);
        rc = NULL;
    }
}

static redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    cr_assert(r, "sync command failed: %s", rc->errstr);
    return r;
}

static long long cmd_int(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "want an integer reply");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* String reply into out; 0 for nil. */
static int cmd_str(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    cr_assert(r, "sync command failed");
    int have = r->type == REDIS_REPLY_STRING;
    cr_assert(have || r->type == REDIS_REPLY_NIL, "want a string or nil reply");
    if (have)
        snprintf(out, cap, "%s", r->str);
    freeReplyObject(r);
    return have;
}

/* ---- loops ---- */

static void tick_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)l;
    (void)w;
    (void)revents;
}

/* Run l until done(arg) or secs pass; the tick bounds every iteration. */
static int run_until_on(struct ev_loop *l, int (*done)(void *), void *arg, double secs)
{
    ev_timer tick;
    ev_timer_init(&tick, tick_cb, 0.005, 0.005);
    ev_timer_start(l, &tick);
    double end = ev_time() + secs;
    int ok = 0;
    while (!(ok = done ? done(arg) : 0) && ev_time() < end)
        ev_run(l, EVRUN_ONCE);
    ev_timer_stop(l, &tick);
    return ok;
}

static int run_until(int (*done)(void *), void *arg, double secs)
{
    return run_until_on(loop, done, arg, secs);
}

static void run_for(double secs)
{
    run_until(NULL, NULL, secs);
}

static void guard_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(l, EVBREAK_ALL);
}

/* Run until nothing but the guard is left (a stopped directory's last
 * deletes), at most 2 s. */
static void drain(struct ev_loop *l)
{
    ev_timer guard;
    ev_timer_init(&guard, guard_cb, 2.0, 0.);
    ev_timer_start(l, &guard);
    ev_unref(l);
    ev_run(l, 0);
    ev_ref(l);
    ev_timer_stop(l, &guard);
}

/* ---- fixture ---- */

static void setup(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    if (!find_redis())
        cr_assert_fail("redis-server not found in PATH: install it (apt-get install redis-server); "
                       "these tests need the real server");
    redis_port = free_port();
    snprintf(redis_addr, sizeof(redis_addr), "127.0.0.1:%d", redis_port);
    redis_start();
    loop = ev_loop_new(EVFLAG_AUTO);
    memset(dirs, 0, sizeof(dirs));
}

static void teardown(void)
{
    for (int i = 0; i < MAX_DIRS; i++) {
        if (dirs[i] && dirs[i]->p) {
            cluster_directory_stop(dirs[i]);
            drain(dir_loops[i]);
        }
    }
    for (int i = 0; i < MAX_DIRS; i++)
        if (dir_loops[i] && dir_loops[i] != loop)
            ev_loop_destroy(dir_loops[i]);
    memset(dir_loops, 0, sizeof(dir_loops));
    if (loop)
        ev_loop_destroy(loop);
    loop = NULL;
    redis_kill();
}

TestSuite(dir_redis, .init = setup, .fini = teardown, .timeout = 30);

static struct cluster_directory_settings settings(long claim_ttl, long node_ttl, long heartbeat)
{
    struct cluster_directory_settings s = {redis_addr, "t:", claim_ttl, node_ttl, heartbeat};
    return s;
}

static const struct cluster_node_info origin_a = {"oA", "origin", "10.0.0.1:1935", "10.0.0.1:8080",
                                                  "tcp://10.0.0.1:5555", "tcp://10.0.0.1:5556", 0};
static const struct cluster_node_info origin_b = {"oB", "origin", "10.0.0.2:1935", "10.0.0.2:8080",
                                                  "tcp://10.0.0.2:5555", "tcp://10.0.0.2:5556", 0};

static int is_connected(void *arg)
{
    return ((struct cluster_directory *)arg)->connected;
}

static void start_on(struct ev_loop *l, struct cluster_directory *d, const struct cluster_directory_settings *s,
                     const struct cluster_node_info *self)
{
    cr_assert_eq(cluster_directory_start(d, l, s, self), ST_OK);
    for (int i = 0; i < MAX_DIRS; i++) {
        if (!dirs[i]) {
            dirs[i] = d;
            dir_loops[i] = l;
            break;
        }
    }
    cr_assert(run_until_on(l, is_connected, d, 3.0), "%s never registered", self->id);
}

static void start(struct cluster_directory *d, const struct cluster_directory_settings *s,
                  const struct cluster_node_info *self)
{
    start_on(loop, d, s, self);
}

/* ---- callback recorders ---- */

struct claim_res {
    int called, result;
    uint32_t epoch;
    uint32_t last_segment;
};

static void claim_cb(void *ctx, int result, uint32_t epoch, uint32_t last_segment)
{
    struct claim_res *r = ctx;
    r->called++;
    r->result = result;
    r->epoch = epoch;
    r->last_segment = last_segment;
}

static int claim_done(void *arg)
{
    return ((struct claim_res *)arg)->called > 0;
}

static struct claim_res claim_on(struct ev_loop *l, struct cluster_directory *d, const char *key)
{
    struct claim_res r = {0, 99, 0, 0};
    cr_assert_eq(cluster_directory_claim(d, key, claim_cb, &r), ST_OK);
    cr_assert(run_until_on(l, claim_done, &r, 3.0), "claim %s: no callback", key);
    cr_assert_eq(r.called, 1);
    return r;
}

static struct claim_res claim(struct cluster_directory *d, const char *key)
{
    return claim_on(loop, d, key);
}

struct lookup_res {
    int called, result;
    struct cluster_stream_info info;
};

static void lookup_cb(void *ctx, int result, const struct cluster_stream_info *info)
{
    struct lookup_res *r = ctx;
    r->called++;
    r->result = result;
    cr_assert_eq(info != NULL, result == CLUSTER_DIR_OK, "info must come with OK only");
    if (info)
        r->info = *info;
}

static int lookup_done(void *arg)
{
    return ((struct lookup_res *)arg)->called > 0;
}

static struct lookup_res lookup_on(struct ev_loop *l, struct cluster_directory *d, const char *key)
{
    struct lookup_res r;
    memset(&r, 0, sizeof(r));
    r.result = 99;
    cr_assert_eq(cluster_directory_lookup(d, key, lookup_cb, &r), ST_OK);
    cr_assert(run_until_on(l, lookup_done, &r, 3.0), "lookup %s: no callback", key);
    return r;
}

static struct lookup_res lookup(struct cluster_directory *d, const char *key)
{
    return lookup_on(loop, d, key);
}

struct route_res {
    int called, result;
    struct cluster_route route;
};

static void route_cb(void *ctx, int result, const struct cluster_route *route)
{
    struct route_res *r = ctx;
    r->called++;
    r->result = result;
    if (route)
        r->route = *route;
}

static int route_done(void *arg)
{
    return ((struct route_res *)arg)->called > 0;
}

static struct route_res route(struct cluster_directory *d, const char *key)
{
    struct route_res r;
    memset(&r, 0, sizeof(r));
    r.result = 99;
    cr_assert_eq(cluster_directory_route(d, key, route_cb, &r), ST_OK);
    cr_assert(run_until(route_done, &r, 3.0), "route %s: no callback", key);
    return r;
}

struct events {
    int n;
    char type[16][8];
    struct cluster_stream_info info[16];
};

static void event_cb(void *ctx, const char *type, const struct cluster_stream_info *info)
{
    struct events *e = ctx;
    if (e->n < 16) {
        snprintf(e->type[e->n], 8, "%s", type);
        e->info[e->n] = *info;
    }
    e->n++;
}

struct lost {
    int n;
    char key[4][512];
};

static void lost_cb(void *ctx, const char *key)
{
    struct lost *l = ctx;
    if (l->n < 4)
        snprintf(l->key[l->n], 512, "%s", key);
    l->n++;
}

static int lost_any(void *arg)
{
    return ((struct lost *)arg)->n > 0;
}

static void wait_subscribers(long long n)
{
    for (int i = 0; i < 300; i++) {
        redisReply *r = cmd("PUBSUB NUMSUB t:events");
        long long have = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1]->integer : -1;
        freeReplyObject(r);
        if (have >= n)
            return;
        run_for(0.01);
    }
    cr_assert_fail("no %lld subscribers on t:events", n);
}

/* ---- tests ---- */

Test(dir_redis, registers_node_and_stop_removes_it)
{
    static struct cluster_directory a, e;
    struct cluster_directory_settings s = settings(600, 1500, 100);
    struct cluster_node_info edge = {"e1", "edge", "10.0.1.1:1935", "10.0.1.1:8080", "", "", 50};
    start(&a, &s, &origin_a);
    start(&e, &s, &edge);

    redisReply *r = cmd("HGETALL t:node:oA");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    int seen = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str, *v = r->element[i + 1]->str;
        if (!strcmp(f, "role"))
            seen += !strcmp(v, "origin");
        else if (!strcmp(f, "pub"))
            seen += !strcmp(v, "tcp://10.0.0.1:5555");
        else if (!strcmp(f, "router"))
            seen += !strcmp(v, "tcp://10.0.0.1:5556");
        else if (!strcmp(f, "rtmp"))
            seen += !strcmp(v, "10.0.0.1:1935");
        else if (!strcmp(f, "players"))
            seen += !strcmp(v, "0");
        else if (!strcmp(f, "updated"))
            seen += atoll(v) > 0;
    }
    freeReplyObject(r);
    cr_assert_eq(seen, 6, "node hash incomplete");
    long long ttl = cmd_int("PTTL t:node:oA");
    cr_assert(ttl > 0 && ttl <= 1500, "node TTL %lld", ttl);
    char buf[64];
    cr_assert_eq(cmd_str(buf, sizeof(buf), "ZSCORE t:edges oA"), 0, "only edges join t:edges");
    cr_assert_eq(cmd_str(buf, sizeof(buf), "ZSCORE t:edges e1"), 1);
    cr_assert_str_eq(buf, "0");
    cr_assert_eq(cmd_str(buf, sizeof(buf), "HGET t:node:e1 max_players"), 1);
    cr_assert_str_eq(buf, "50");

    /* load goes out with the next heartbeat */
    cluster_directory_set_load(&e, 7, 123456);
    run_for(0.25);
    cr_assert_eq(cmd_str(buf, sizeof(buf), "ZSCORE t:edges e1"), 1);
    cr_assert_str_eq(buf, "7");
    cr_assert_eq(cmd_str(buf, sizeof(buf), "HGET t:node:e1 out_bps"), 1);
    cr_assert_str_eq(buf, "123456");

    /* heartbeats keep the record alive past its TTL */
    run_for(1.8);
    cr_assert_eq(cmd_int("EXISTS t:node:oA"), 1);

    cluster_directory_stop(&a);
    cluster_directory_stop(&e);
    cr_assert_eq(a.connected, 0);
    drain(loop);
    cr_assert_eq(cmd_int("EXISTS t:node:oA"), 0, "stop deletes the node record");
    cr_assert_eq(cmd_int("EXISTS t:node:e1"), 0);
    cr_assert_eq(cmd_str(buf, sizeof(buf), "ZSCORE t:edges e1"), 0, "stop leaves t:edges");
}

Test(dir_redis, claim_held_then_takeover_when_owner_node_dies)
{
    static struct cluster_directory a, b;
    struct cluster_directory_settings s = settings(600, 1500, 100);
    struct lost lost_a = {0};
    start(&a, &s, &origin_a);
    start(&b, &s, &origin_b);
    cluster_directory_on_lost(&a, lost_cb, &lost_a);

    struct claim_res r = claim(&a, "live/a");
    cr_assert_eq(r.result, CLUSTER_DIR_OK);
    cr_assert_eq(r.epoch, 1);
    char buf[128];
    cr_assert_eq(cmd_str(buf, sizeof(buf), "HGET t:stream:live/a owner"), 1);
    cr_assert_str_eq(buf, "oA");
    cr_assert_eq(cmd_str(buf, sizeof(buf), "HGET t:stream:live/a pub"), 1);
    cr_assert_str_eq(buf, "tcp://10.0.0.1:5555");
    long long ttl = cmd_int("PTTL t:stream:live/a");
    cr_assert(ttl > 0 && ttl <= 600, "claim TTL %lld", ttl);

    r = claim(&b, "live/a");
    cr_assert_eq(r.result, CLUSTER_DIR_HELD);
    cr_assert_eq(r.epoch, 1, "HELD carries the owner's epoch");

    struct lookup_res l = lookup(&b, "live/a");
    cr_assert_eq(l.result, CLUSTER_DIR_OK);
    cr_assert_str_eq(l.info.key, "live/a");
    cr_assert_str_eq(l.info.owner, "oA");
    cr_assert_str_eq(l.info.router, "tcp://10.0.0.1:5556");
    cr_assert_eq(l.info.epoch, 1);

    /* the owner's node record vanishes (a crashed origin): takeover at once */
    cr_assert_eq(cmd_int("DEL t:node:oA"), 1);
    r = claim(&b, "live/a");
    cr_assert_eq(r.result, CLUSTER_DIR_OK);
    cr_assert_eq(r.epoch, 2, "a takeover takes a fresh epoch");
    l = lookup(&b, "live/a");
    cr_assert_str_eq(l.info.owner, "oB");

    /* the old owner's next refresh finds it lost */
    cr_assert(run_until(lost_any, &lost_a, 2.0), "no lost callback");
    cr_assert_eq(lost_a.n, 1);
    cr_assert_str_eq(lost_a.key[0], "live/a");
    l = lookup(&a, "live/a");
    cr_assert_str_eq(l.info.owner, "oB", "the loser must not take it back");
    cr_assert_eq(l.info.epoch, 2);

    /* a new claim by the same owner (re-publish) also takes a fresh epoch */
    r = claim(&b, "live/a");
    cr_assert_eq(r.result, CLUSTER_DIR_OK);
    cr_assert_eq(r.epoch, 3);
}

static int segment_is_100(void *arg)
{
    char buf[32];
    return cmd_str(buf, sizeof(buf), "GET t:segment:live/seg") == 1 && strcmp(buf, "100") == 0;
}

Test(dir_redis, last_hls_segment_goes_to_the_next_owner)
{
    static struct cluster_directory a, b;
    struct cluster_directory_settings s = settings(600, 1500, 100);
    start(&a, &s, &origin_a);
    start(&b, &s, &origin_b);
    struct claim_res r = claim(&a, "live/seg");
    cr_assert_eq(r.result, CLUSTER_DIR_OK);
    cr_assert_eq(r.last_segment, 0, "a first claim has no numbering to continue");
    /* the owner's numbers only go up; a non-owner's are not taken */
    cluster_directory_note_segment(&a, "live/seg", 100);
    cluster_directory_note_segment(&a, "live/seg", 99);
    cluster_directory_note_segment(&b, "live/seg", 500);
    cr_assert(run_until(segment_is_100, NULL, 2.0), "segment 100 never recorded");
    long long ttl = cmd_int("PTTL t:segment:live/seg");
    cr_assert(ttl > 600 && ttl <= CLUSTER_SEGMENT_TTL_MS, "segment TTL %lld outlives the claim", ttl);
    /* the owner dies: the next owner continues after 100 */
    cr_assert_eq(cmd_int("DEL t:node:oA"), 1);
    r = claim(&b, "live/seg");
    cr_assert_eq(r.result, CLUSTER_DIR_OK);
    cr_assert_eq(r.epoch, 2);
    cr_assert_eq(r.last_segment, 100);
    /* a refused claim carries no segment */
    r = claim(&a, "live/seg");
    cr_assert_eq(r.result, CLUSTER_DIR_HELD);
    cr_assert_eq(r.last_segment, 0);
}

Test(dir_redis, claim_expires_when_owner_stops_refreshing)
{
    struct ev_loop *frozen = ev_loop_new(EVFLAG_AUTO);
    static struct cluster_directory a, b;
    struct cluster_directory_settings sa = settings(500, 5000, 100); /* node outlives the claim */
    struct cluster_directory_settings sb = settings(500, 1500, 100);
    start_on(frozen, &a, &sa, &origin_a);
    start(&b, &sb, &origin_b);
    struct claim_res r = claim_on(frozen, &a, "live/x");
    cr_assert_eq(r.result, CLUSTER_DIR_OK);
    uint32_t first = r.epoch;

    /* a's loop no longer runs: nobody refreshes its claim */
    r = claim(&b, "live/x");
    cr_assert_eq(r.result, CLUSTER_DIR_HELD);
    run_for(0.7);
    cr_assert_eq(cmd_int("EXISTS t:node:oA"), 1, "a's node record still alive");
    struct lookup_res l = lookup(&b, "live/x");
    cr_assert_eq(l.result, CLUSTER_DIR_NOT_FOUND, "claim should have expired after claim_ttl");
    r = claim(&b, "live/x");
    cr_assert_eq(r.result, CLUSTER_DIR_OK);
    cr_assert_eq(r.epoch, first + 1);
}

Test(dir_redis, refresh_keeps_claim_over_several_ttls)
{
    static struct cluster_directory a;
    struct cluster_directory_settings s = settings(300, 1500, 100);
    struct lost lost_a = {0};
    start(&a, &s, &origin_a);
    cluster_directory_on_lost(&a, lost_cb, &lost_a);
    struct claim_res r = claim(&a, "live/r");
    cr_assert_eq(r.result, CLUSTER_DIR_OK);
    for (int i = 0; i < 5; i++) {
        run_for(0.25);
        long long ttl = cmd_int("PTTL t:stream:live/r");
        cr_assert(ttl > 0 && ttl <= 300, "round %d: claim TTL %lld", i, ttl);
    }
    struct lookup_res l = lookup(&a, "live/r");
    cr_assert_eq(l.result, CLUSTER_DIR_OK);
    cr_assert_eq(l.info.epoch, r.epoch, "a refresh keeps the epoch");
    cr_assert_eq(lost_a.n, 0);
}

Test(dir_redis, release_announces_down_and_events_reach_subscriber)
{
    static struct cluster_directory a, e;
    struct cluster_directory_settings s = settings(600, 1500, 100);
    struct cluster_node_info edge = {"e1", "edge", "10.0.1.1:1935", "", "", "", 0};
    struct events ev = {0};
    start(&a, &s, &origin_a);
    start(&e, &s, &edge);
    cluster_directory_on_event(&e, event_cb, &ev);
    wait_subscribers(1);

    struct claim_res r = claim(&a, "live/ev");
    cr_assert_eq(r.result, CLUSTER_DIR_OK);
    run_for(0.1);
    cr_assert_eq(ev.n, 1);
    cr_assert_str_eq(ev.type[0], "up");
    cr_assert_str_eq(ev.info[0].key, "live/ev");
    cr_assert_str_eq(ev.info[0].owner, "oA");
    cr_assert_eq(ev.info[0].epoch, r.epoch);

    cluster_directory_release(&a, "live/ev");
    run_for(0.1);
    cr_assert_eq(ev.n, 2);
    cr_assert_str_eq(ev.type[1], "down");
    cr_assert_str_eq(ev.info[1].key, "live/ev");
    cr_assert_str_eq(ev.info[1].owner, "oA");
    cr_assert_eq(ev.info[1].epoch, r.epoch);
    cr_assert_eq(cmd_int("EXISTS t:stream:live/ev"), 0);
    struct lookup_res l = lookup(&e, "live/ev");
    cr_assert_eq(l.result, CLUSTER_DIR_NOT_FOUND);

    /* released keys are no longer refreshed or re-claimed */
    run_for(0.3);
    cr_assert_eq(cmd_int("EXISTS t:stream:live/ev"), 0);

    /* a malformed message on the channel is dropped, the next one arrives */
    cmd_int("PUBLISH t:events %s", "garbage");
    cmd_int("PUBLISH t:events %s", "up live/z oX 9");
    run_for(0.1);
    cr_assert_eq(ev.n, 3);
    cr_assert_str_eq(ev.info[2].key, "live/z");
    cr_assert_eq(ev.info[2].epoch, 9);
}

Test(dir_redis, release_while_claim_in_flight_does_not_stick)
{
    static struct cluster_directory a;
    struct cluster_directory_settings s = settings(600, 1500, 100);
    start(&a, &s, &origin_a);
    struct claim_res r = {0, 99, 0, 0};
    cr_assert_eq(cluster_directory_claim(&a, "live/f", claim_cb, &r), ST_OK);
    cluster_directory_release(&a, "live/f");
    cr_assert(run_until(claim_done, &r, 2.0));
    cr_assert_eq(r.result, CLUSTER_DIR_ERROR);
    run_for(0.1);
    cr_assert_eq(cmd_int("EXISTS t:stream:live/f"), 0);
}

Test(dir_redis, requests_right_after_start_wait_for_the_connect)
{
    static struct cluster_directory a;
    struct cluster_directory_settings s = settings(600, 1500, 100);
    struct claim_res r = {0, 99, 0, 0};
    cr_assert_eq(cluster_directory_start(&a, loop, &s, &origin_a), ST_OK);
    dirs[0] = &a;
    dir_loops[0] = loop;
    cr_assert_eq(cluster_directory_claim(&a, "live/early", claim_cb, &r), ST_OK);
    cr_assert(run_until(claim_done, &r, 3.0));
    cr_assert_eq(r.result, CLUSTER_DIR_OK);
    cr_assert_eq(r.epoch, 1);
}

Test(dir_redis, unreachable_redis_fails_requests_and_keeps_retrying)
{
    static struct cluster_directory a;
    struct cluster_directory_settings s = settings(600, 1500, 100);
    redis_kill();
    cr_assert_eq(cluster_directory_start(&a, loop, &s, &origin_a), ST_OK);
    dirs[0] = &a;
    dir_loops[0] = loop;
    struct claim_res r = {0, 99, 0, 0};
    cr_assert_eq(cluster_directory_claim(&a, "live/a", claim_cb, &r), ST_OK);
    cr_assert(run_until(claim_done, &r, 1.0), "claim hung while Redis is unreachable");
    cr_assert_eq(r.result, CLUSTER_DIR_ERROR);
    redis_start();
    cr_assert(run_until(is_connected, &a, 3.0), "never connected once Redis came up");
    cr_assert_eq(claim(&a, "live/a").result, CLUSTER_DIR_OK);
}

Test(dir_redis, lookup_ok_and_not_found)
{
    static struct cluster_directory a;
    struct cluster_directory_settings s = settings(600, 1500, 100);
    start(&a, &s, &origin_a);
    struct lookup_res l = lookup(&a, "live/none");
    cr_assert_eq(l.result, CLUSTER_DIR_NOT_FOUND);
    cr_assert_eq(claim(&a, "live/with space").result, CLUSTER_DIR_OK);
    l = lookup(&a, "live/with space");
    cr_assert_eq(l.result, CLUSTER_DIR_OK);
    cr_assert_str_eq(l.info.key, "live/with space");
    cr_assert_str_eq(l.info.pub, "tcp://10.0.0.1:5555");
    cr_assert_eq(l.info.epoch, 1);

    /* a hash that is not a claim is a bad reply, not a crash */
    cmd_int("HSET t:stream:live/odd owner %s epoch %s", "oZ", "not-a-number");
    l = lookup(&a, "live/odd");
    cr_assert_eq(l.result, CLUSTER_DIR_ERROR);
}

Test(dir_redis, carry_route_and_best_edge)
{
    static struct cluster_directory o, e1, e2;
    struct cluster_directory_settings s = settings(600, 1500, 100);
    struct cluster_node_info n1 = {"e1", "edge", "10.0.1.1:1935", "10.0.1.1:8080", "", "", 10};
    struct cluster_node_info n2 = {"e2", "edge", "10.0.1.2:1935", "10.0.1.2:8080", "", "", 10};
    start(&o, &s, &origin_a);
    start(&e1, &s, &n1);
    start(&e2, &s, &n2);
    cluster_directory_set_load(&e1, 5, 0);
    cluster_directory_set_load(&e2, 1, 0);
    cluster_directory_carry(&e1, "live/a", 1);
    run_for(0.3);

    /* a carrying edge under its max wins over a less loaded one */
    struct route_res r = route(&o, "live/a");
    cr_assert_eq(r.result, CLUSTER_DIR_OK);
    cr_assert_str_eq(r.route.node, "e1");
    cr_assert_str_eq(r.route.rtmp, "10.0.1.1:1935");
    cr_assert_str_eq(r.route.http, "10.0.1.1:8080");
    cr_assert_eq(r.route.carrying, 1);

    /* nobody carries it: the least loaded edge */
    r = route(&o, "live/b");
    cr_assert_eq(r.result, CLUSTER_DIR_OK);
    cr_assert_str_eq(r.route.node, "e2");
    cr_assert_eq(r.route.carrying, 0);

    /* best_edge: least loaded other than us */
    cr_assert_not_null(cluster_directory_best_edge(&o));
    cr_assert_str_eq(cluster_directory_best_edge(&o)->node, "e2");
    cr_assert_str_eq(cluster_directory_best_edge(&e2)->node, "e1");
    cr_assert_str_eq(cluster_directory_best_edge(&e1)->node, "e2");
    cr_assert_str_eq(cluster_directory_best_edge(&e1)->http, "10.0.1.2:8080");

    /* the carrier is full: least loaded edge instead */
    cluster_directory_set_load(&e1, 10, 0);
    run_for(0.3);
    r = route(&o, "live/a");
    cr_assert_str_eq(r.route.node, "e2");
    cr_assert_eq(r.route.carrying, 0);

    /* both full: the least loaded anyway */
    cluster_directory_set_load(&e2, 12, 0);
    run_for(0.3);
    r = route(&o, "live/a");
    cr_assert_eq(r.result, CLUSTER_DIR_OK);
    cr_assert_str_eq(r.route.node, "e1");
    cr_assert_eq(r.route.carrying, 1, "a full carrier is still the carrier");

    /* uncarried takes effect at once; dead edges are skipped and pruned */
    cluster_directory_set_load(&e1, 0, 0);
    cluster_directory_set_load(&e2, 1, 0);
    cluster_directory_carry(&e1, "live/a", 0);
    cluster_directory_carry(&e2, "live/a", 1);
    cmd_int("ZADD t:edges 0 ghost");
    cmd_int("ZADD t:carriers:live/a 99999999999999 ghost");
    run_for(0.3);
    r = route(&o, "live/a");
    cr_assert_str_eq(r.route.node, "e2");
    cr_assert_eq(r.route.carrying, 1);
    r = route(&o, "live/c");
    cr_assert_str_eq(r.route.node, "e1");
    char buf[32];
    cr_assert_eq(cmd_str(buf, sizeof(buf), "ZSCORE t:edges ghost"), 0, "dead edge not pruned");
    cr_assert_eq(cmd_str(buf, sizeof(buf), "ZSCORE t:carriers:live/a ghost"), 0, "dead carrier not pruned");
    cr_assert_eq(cmd_str(buf, sizeof(buf), "ZSCORE t:carriers:live/a e1"), 0);

    /* no edges at all */
    cluster_directory_stop(&e1);
    cluster_directory_stop(&e2);
    drain(loop);
    r = route(&o, "live/a");
    cr_assert_eq(r.result, CLUSTER_DIR_NOT_FOUND);
    run_for(0.25);
    cr_assert_null(cluster_directory_best_edge(&o));
}

Test(dir_redis, redis_restart_reconnects_reregisters_and_reclaims)
{
    static struct cluster_directory a, e;
    struct cluster_directory_settings s = settings(600, 1500, 100);
    struct cluster_node_info edge = {"e1", "edge", "10.0.1.1:1935", "", "", "", 0};
    struct events ev = {0};
    struct lost lost_a = {0};
    start(&a, &s, &origin_a);
    start(&e, &s, &edge);
    cluster_directory_on_lost(&a, lost_cb, &lost_a);
    cluster_directory_on_event(&e, event_cb, &ev);
    wait_subscribers(1);
    freeReplyObject(cmd("SET t:epoch:live/a 41"));
    struct claim_res r = claim(&a, "live/a");
    cr_assert_eq(r.result, CLUSTER_DIR_OK);
    cr_assert_eq(r.epoch, 42);

    redis_kill();
    run_for(0.1);
    cr_assert_eq(a.connected, 0);

    /* while Redis is down every request fails fast */
    double t0 = ev_time();
    struct lookup_res l = lookup(&e, "live/a");
    cr_assert_eq(l.result, CLUSTER_DIR_ERROR);
    struct claim_res c = claim(&e, "live/q");
    cr_assert_eq(c.result, CLUSTER_DIR_ERROR);
    struct route_res rt = route(&e, "live/a");
    cr_assert_eq(rt.result, CLUSTER_DIR_ERROR);
    cr_assert(ev_time() - t0 < 0.5, "errors took %.3f s", ev_time() - t0);

    redis_start();
    cr_assert(run_until(is_connected, &a, 4.0), "no reconnect");
    cr_assert(run_until(is_connected, &e, 4.0), "no reconnect");
    cr_assert(a.reconnects >= 1);
    run_for(0.05);
    cr_assert_eq(cmd_int("EXISTS t:node:oA"), 1, "node not re-registered");
    char buf[64];
    cr_assert_eq(cmd_str(buf, sizeof(buf), "HGET t:stream:live/a owner"), 1, "claim not re-established");
    cr_assert_str_eq(buf, "oA");
    cr_assert_eq(cmd_str(buf, sizeof(buf), "HGET t:stream:live/a epoch"), 1);
    cr_assert_str_eq(buf, "42", "re-claim keeps the epoch");
    cr_assert_eq(cmd_str(buf, sizeof(buf), "GET t:epoch:live/a"), 1);
    cr_assert_str_eq(buf, "42", "the counter is raised to the epoch");
    cr_assert_eq(lost_a.n, 0);

    /* the subscriber resubscribed */
    wait_subscribers(1);
    int before = ev.n;
    cluster_directory_release(&a, "live/a");
    run_for(0.1);
    cr_assert_eq(ev.n, before + 1);
    cr_assert_str_eq(ev.type[before < 16 ? before : 15], "down");
    r = claim(&e, "live/a");
    cr_assert_eq(r.epoch, 43, "epochs keep growing after a restart");
}

Test(dir_redis, reclaim_after_restart_lost_to_another_owner)
{
    static struct cluster_directory a;
    struct cluster_directory_settings s = settings(600, 1500, 100);
    struct lost lost_a = {0};
    start(&a, &s, &origin_a);
    cluster_directory_on_lost(&a, lost_cb, &lost_a);
    cr_assert_eq(claim(&a, "live/a").result, CLUSTER_DIR_OK);
    redis_kill();
    run_for(0.05);
    redis_start();
    /* another origin got there first, with a live node record */
    cmd_int("HSET t:node:oB role origin");
    cmd_int("HSET t:stream:live/a owner oB epoch 1");
    cr_assert(run_until(lost_any, &lost_a, 4.0), "re-claim should report the loss");
    cr_assert_str_eq(lost_a.key[0], "live/a");
    char buf[16];
    cr_assert_eq(cmd_str(buf, sizeof(buf), "HGET t:stream:live/a owner"), 1);
    cr_assert_str_eq(buf, "oB");
}

Test(dir_redis, stalled_redis_times_out_instead_of_hanging)
{
    static struct cluster_directory a;
    struct cluster_directory_settings s = settings(600, 1500, 100);
    start(&a, &s, &origin_a);
    kill(redis_pid, SIGSTOP);
    double t0 = ev_time();
    struct lookup_res l;
    memset(&l, 0, sizeof(l));
    cr_assert_eq(cluster_directory_lookup(&a, "live/a", lookup_cb, &l), ST_OK);
    int done = run_until(lookup_done, &l, 3.0);
    kill(redis_pid, SIGCONT);
    cr_assert(done, "lookup hung on a stalled Redis");
    cr_assert_eq(l.result, CLUSTER_DIR_ERROR);
    cr_assert(ev_time() - t0 < 2.0);
    cr_assert(run_until(is_connected, &a, 4.0), "no recovery after the stall");
    cr_assert_eq(lookup(&a, "live/a").result, CLUSTER_DIR_NOT_FOUND);
}

static struct cluster_directory *stop_me;

static void claim_then_stop(void *ctx, int result, uint32_t epoch, uint32_t last_segment)
{
    claim_cb(ctx, result, epoch, last_segment);
    cluster_directory_stop(stop_me);
}

Test(dir_redis, stop_cancels_callbacks_and_may_run_inside_one)
{
    static struct cluster_directory a;
    struct cluster_directory_settings s = settings(600, 1500, 100);
    start(&a, &s, &origin_a);
    struct lookup_res l;
    memset(&l, 0, sizeof(l));
    cr_assert_eq(cluster_directory_lookup(&a, "live/a", lookup_cb, &l), ST_OK);
    cluster_directory_stop(&a);
    drain(loop);
    cr_assert_eq(l.called, 0, "callback after stop");

    start(&a, &s, &origin_a);
    struct claim_res r1 = {0, 99, 0, 0}, r2 = {0, 99, 0, 0};
    stop_me = &a;
    cr_assert_eq(cluster_directory_claim(&a, "live/s1", claim_then_stop, &r1), ST_OK);
    cr_assert_eq(cluster_directory_claim(&a, "live/s2", claim_cb, &r2), ST_OK);
    cr_assert(run_until(claim_done, &r1, 2.0));
    drain(loop);
    cr_assert_eq(r1.called, 1);
    cr_assert_eq(r2.called, 0, "the second callback ran after stop");
    cr_assert_null(a.p);
    /* stop released what it owned */
    cr_assert_eq(cmd_int("EXISTS t:stream:live/s1"), 0);
    cr_assert_eq(cmd_int("EXISTS t:node:oA"), 0);
}

Test(dir_redis, owned_set_is_bounded)
{
    static struct cluster_directory a;
    struct cluster_directory_settings s = settings(5000, 5000, 2000);
    start(&a, &s, &origin_a);
    static struct claim_res res[4096];
    char key[32];
    for (int i = 0; i < 4096; i++) {
        snprintf(key, sizeof(key), "live/%d", i);
        res[i].result = 99;
        cr_assert_eq(cluster_directory_claim(&a, key, claim_cb, &res[i]), ST_OK);
    }
    cr_assert(run_until(claim_done, &res[4095], 5.0));
    for (int i = 0; i < 4096; i++)
        cr_assert_eq(res[i].result, CLUSTER_DIR_OK, "claim %d", i);
    struct claim_res extra = {0, 99, 0, 0};
    cr_assert_eq(cluster_directory_claim(&a, "live/one-too-many", claim_cb, &extra), ST_ERROR);
    /* re-claiming one we own is still fine */
    cr_assert_eq(claim(&a, "live/7").result, CLUSTER_DIR_OK);
    cr_assert_eq(extra.called, 0);
}
