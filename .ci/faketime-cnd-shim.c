/* libfaketime moves pthread_cond_timedwait's absolute deadline from fake to real time, but not
 * C11 cnd_timedwait, which librdkafka uses: under a fake date in the future its one-second waits
 * would last days. Routing cnd_timedwait through pthread_cond_timedwait (glibc's cnd_t and mtx_t
 * are the pthread types) lets libfaketime correct it. Loaded before libfaketime by .ci/fake-dates. */
#include <errno.h>
#include <pthread.h>
#include <threads.h>
int cnd_timedwait(cnd_t *restrict cond, mtx_t *restrict mutex, const struct timespec *restrict time_point) {
    int r = pthread_cond_timedwait((pthread_cond_t *)cond, (pthread_mutex_t *)mutex, time_point);
    return r == 0 ? thrd_success : r == ETIMEDOUT ? thrd_timedout : thrd_error;
}
